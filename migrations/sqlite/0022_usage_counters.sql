-- Usage counters for billing (issue 17): a tenant's sign-ins and SCIM writes per calendar
-- month (UTC), counted in the transaction of the audit event that records each, so they
-- outlive audit retention and the operator's report and /metrics read one row each.
CREATE TABLE usage_counters (
    tenant_id TEXT NOT NULL,
    -- `YYYY-MM`, UTC.
    month     TEXT NOT NULL,
    -- `sign_ins` or `scim_operations`.
    metric    TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, month, metric)
);
-- What the audit log still holds of the months before.
INSERT INTO usage_counters (tenant_id, month, metric, count)
SELECT tenant_id, strftime('%Y-%m', occurred_at / 1000000, 'unixepoch'),
       CASE WHEN action = 'login.succeeded' THEN 'sign_ins' ELSE 'scim_operations' END,
       COUNT(*)
FROM audit_events
WHERE action IN ('login.succeeded', 'scim_user.created', 'scim_user.updated',
                 'scim_user.deactivated', 'scim_user.reactivated', 'scim_user.deleted',
                 'scim_group.created', 'scim_group.updated', 'scim_group.deleted')
GROUP BY 1, 2, 3;
