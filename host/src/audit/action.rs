//! The closed list of what an audit event can record. Dotted and past tense, the word is
//! what the log stores, exports and filters on; the variant is what code writes, so a new
//! kind of event is added here, once.

use crate::types::text_enum;

text_enum! {
    /// What an audit event records.
    pub enum Action {
        AccessDenied = "access.denied",
        ApiTokenCreated = "api_token.created",
        ApiTokenRevoked = "api_token.revoked",
        ApiTokenRotated = "api_token.rotated",
        AuditExported = "audit.exported",
        AuditPurged = "audit.purged",
        AuditRetentionChanged = "audit.retention_changed",
        AuditStreamCreated = "audit_stream.created",
        AuditStreamDeleted = "audit_stream.deleted",
        AuditStreamUpdated = "audit_stream.updated",
        CatalogueUpdated = "catalogue.updated",
        RolesAssigned = "roles.assigned",
        DomainRequested = "domain.requested",
        GroupCreated = "group.created",
        GroupDeleted = "group.deleted",
        GroupMemberAdded = "group.member_added",
        GroupMemberRemoved = "group.member_removed",
        GroupUpdated = "group.updated",
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
        OauthRefreshTokenReused = "oauth.refresh_token_reused",
        OauthTokenRevoked = "oauth.token_revoked",
        OperatorTokenCreated = "operator_token.created",
        OperatorTokenRotated = "operator_token.rotated",
        OwnerSet = "owner.set",
        PasswordResetIssued = "password_reset.issued",
        PasswordSet = "password.set",
        PipelineStageAssigned = "pipeline.stage_assigned",
        PipelineStageReset = "pipeline.stage_reset",
        PipelineStageRolledBack = "pipeline.stage_rolled_back",
        PipelineRecordingsDeleted = "pipeline.recordings_deleted",
        PipelineRecordingChanged = "pipeline.recording_changed",
        PluginDeleted = "plugin.deleted",
        PluginFailed = "plugin.failed",
        PluginPublished = "plugin.published",
        PluginUploaded = "plugin.uploaded",
        PolicyUpdated = "policy.updated",
        SessionRevoked = "session.revoked",
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
        SsoConnectionAdapterAssigned = "sso_connection.adapter_assigned",
        SsoConnectionAdapterReset = "sso_connection.adapter_reset",
        SsoConnectionAdapterRolledBack = "sso_connection.adapter_rolled_back",
        SsoCertificateExpiring = "sso_connection.certificate_expiring",
        SsoConnectionKeyAdded = "sso_connection.key_added",
        SsoConnectionKeyRemoved = "sso_connection.key_removed",
        SsoMetadataRefreshed = "sso_connection.metadata_refreshed",
        SsoMetadataRefreshFailed = "sso_connection.metadata_refresh_failed",
        TenantCreated = "tenant.created",
        TenantUpdated = "tenant.updated",
        TenantSuspended = "tenant.suspended",
        TenantResumed = "tenant.resumed",
        TenantDeleted = "tenant.deleted",
        TenantFeaturesChanged = "tenant.features_changed",
        TenantPublicTokenRotated = "tenant.public_token_rotated",
        ScimClientCreated = "scim_client.created",
        ScimClientRevoked = "scim_client.revoked",
        SetupLinkIssued = "setup_link.issued",
        SetupLinkRevoked = "setup_link.revoked",
        SetupLinkUsed = "setup_link.used",
        UserDeactivated = "user.deactivated",
        UserInvited = "user.invited",
        UserLinked = "user.linked",
        UserProvisioned = "user.provisioned",
        UserReactivated = "user.reactivated",
    }
}

/// Whether an action records a failure: its last word is `failed`, `denied`, `locked` or
/// `rejected`, or ends in `_failed` (`login.failed`, `access.denied`, an app's
/// `export.upload_failed`). Gatehouse's own actions and the app's follow the same rule, so
/// `outcome=failure` finds both.
pub fn is_failure(action: &str) -> bool {
    let last = action.rsplit('.').next().unwrap_or(action);
    matches!(last, "failed" | "denied" | "locked" | "rejected") || last.ends_with("_failed")
}

/// The stored outcome of an action: `failure` or `success`.
pub fn outcome(action: &str) -> &'static str {
    if is_failure(action) {
        "failure"
    } else {
        "success"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn failures_are_named_by_their_last_word() {
        for a in [
            "login.failed",
            "access.denied",
            "mfa.locked",
            "x.upload_failed",
        ] {
            assert_eq!(super::outcome(a), "failure", "{a}");
        }
        for a in [
            "login.succeeded",
            "logout",
            "x.failed_over",
            "tenant.created",
        ] {
            assert_eq!(super::outcome(a), "success", "{a}");
        }
    }
}
