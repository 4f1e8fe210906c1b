"""The centre's PostgreSQL: migrations, and the queries the workers, timers and console need.

The only package that touches asyncpg. Rows come back as the pydantic models of `models`.
"""
