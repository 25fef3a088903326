//! The closed list of what an audit event can record. Dotted and past tense, the word is
//! what the log stores, exports and filters on; the variant is what code writes, so a new
//! kind of event is added here, once.

use crate::types::text_enum;

text_enum! {
    /// What an audit event records.
    pub enum Action {
        ApiTokenCreated = "api_token.created",
        ApiTokenRevoked = "api_token.revoked",
        ApiTokenRotated = "api_token.rotated",
        CatalogueUpdated = "catalogue.updated",
        DomainRequested = "domain.requested",
        DomainVerified = "domain.verified",
        DomainRemoved = "domain.removed",
        LoginFailed = "login.failed",
        MfaEnrolled = "mfa.enrolled",
        MfaLocked = "mfa.locked",
        MfaRecoveryCodeUsed = "mfa.recovery_code_used",
        MfaRecoveryCodesRegenerated = "mfa.recovery_codes_regenerated",
        MfaReset = "mfa.reset",
        MfaUnlocked = "mfa.unlocked",
        LoginSucceeded = "login.succeeded",
        Logout = "logout",
        OauthClientRegistered = "oauth_client.registered",
        OauthClientRevoked = "oauth_client.revoked",
        OperatorTokenCreated = "operator_token.created",
        OperatorTokenRotated = "operator_token.rotated",
        OwnerSet = "owner.set",
        PipelineStageAssigned = "pipeline.stage_assigned",
        PipelineStageReset = "pipeline.stage_reset",
        PluginDeleted = "plugin.deleted",
        PluginFailed = "plugin.failed",
        PluginPublished = "plugin.published",
        PluginUploaded = "plugin.uploaded",
        PolicyUpdated = "policy.updated",
        ScimGroupCreated = "scim_group.created",
        ScimGroupUpdated = "scim_group.updated",
        ScimGroupDeleted = "scim_group.deleted",
        ScimUserCreated = "scim_user.created",
        ScimUserUpdated = "scim_user.updated",
        ScimUserDeactivated = "scim_user.deactivated",
        ScimUserReactivated = "scim_user.reactivated",
        ScimUserDeleted = "scim_user.deleted",
        SsoConnectionCreated = "sso_connection.created",
        SsoConnectionUpdated = "sso_connection.updated",
        SsoConnectionDeleted = "sso_connection.deleted",
        SsoConnectionKeyAdded = "sso_connection.key_added",
        SsoConnectionKeyRemoved = "sso_connection.key_removed",
        TenantCreated = "tenant.created",
        TenantUpdated = "tenant.updated",
        TenantSuspended = "tenant.suspended",
        TenantResumed = "tenant.resumed",
        TenantDeleted = "tenant.deleted",
        UserLinked = "user.linked",
        UserProvisioned = "user.provisioned",
    }
}
