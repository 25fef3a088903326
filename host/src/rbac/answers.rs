//! What the decision API answers (`rbac::authzen` decides, `http::access` sends): a decision
//! with its explanation or its error, an action found, a user found. Typed so the OpenAPI
//! document describes them and the suite checks every answer against that description.

use serde::Serialize;

use crate::types::UserId;

/// One decision (OpenID AuthZEN 1.0 §6.2): `decision`, and in `context` the explanation
/// (`reason_admin.en`) or, for a malformed item of a batch, the error.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessDecision)]
pub struct Decision {
    pub decision: bool,
    pub context: DecisionContext,
}

/// A decision's context: exactly one of its members is present.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessDecisionContext)]
pub struct DecisionContext {
    /// Why, for the tenant's administrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_admin: Option<Reason>,
    /// Why a batch item could not be decided (a single evaluation answers 400 instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemError>,
}

/// An explanation, by language (Gatehouse writes English).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessReason)]
pub struct Reason {
    pub en: String,
}

/// A batch item's error, as AuthZEN's batch semantics ask.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessItemError)]
pub struct ItemError {
    /// 400: the item is malformed.
    pub status: u16,
    pub message: String,
}

impl Decision {
    /// A decision with its explanation.
    pub fn explained(decision: bool, reason: String) -> Decision {
        Decision {
            decision,
            context: DecisionContext {
                reason_admin: Some(Reason { en: reason }),
                error: None,
            },
        }
    }

    /// A batch item that could not be decided: a denial carrying the error.
    pub fn malformed(message: String) -> Decision {
        Decision {
            decision: false,
            context: DecisionContext {
                reason_admin: None,
                error: Some(ItemError {
                    status: 400,
                    message,
                }),
            },
        }
    }
}

/// An action the subject may perform (`{"name": …}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessActionFound)]
pub struct ActionFound {
    pub name: String,
}

/// A user who may perform the action (`{"type": "user", "id": …}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = AccessSubjectFound)]
pub struct SubjectFound {
    /// Always `user`.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^user$")]
    pub kind: &'static str,
    pub id: UserId,
}
