-- Whether the hub carried out an operator action (true) or refused it (false); NULL until its
-- report comes, and `applied_detail` is then the hub's own words. Reports recorded before
-- this column said a refusal only in the detail, as "refused: why": read back from there.
ALTER TABLE operator_actions ADD COLUMN applied boolean;
UPDATE operator_actions SET
    applied = applied_detail IS NULL OR applied_detail NOT LIKE 'refused: %',
    applied_detail = CASE WHEN applied_detail LIKE 'refused: %'
                          THEN substr(applied_detail, length('refused: ') + 1)
                          ELSE applied_detail END
WHERE applied_at IS NOT NULL;
ALTER TABLE operator_actions ADD CONSTRAINT operator_actions_outcome_reported
    CHECK ((applied IS NULL) = (applied_at IS NULL));
