"""What both web servers (the hub's dashboard, the centre's console) refuse before their apps run.

Plain ASGI, with no other package of the project below it: hub/ and centre/ both use it.
"""
