-- Each registered app declares its modules (a JSON list of names): the default module
-- catalogue every tenant's roles grant on, beside the deployment's `rbac.modules`.
ALTER TABLE oauth_clients ADD COLUMN modules TEXT NOT NULL DEFAULT '[]';
