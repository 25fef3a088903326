//! The directory: a tenant's users, their IdP identities, groups, memberships and role
//! assignments, and the only module that writes them. Its two writers meet here: a sign-in
//! ([`sign_in::reconcile`]: find, link or create the user, refresh what it may) and SCIM
//! ([`scim_users`], [`scim_groups`]: commands that `scim` translates SCIM requests into).
//! Which of them may change which attribute is decided in [`authority`], once. What a
//! deprovisioning implies beyond the rows (sessions cut off, SCIM roles re-derived) is in
//! [`provision`]. A user's roles are the union of what each source gave it.

pub mod authority;
pub mod group_admin;
pub mod local;
pub mod manual;
pub mod owner;
pub mod provision;
pub mod record;
pub mod scim_groups;
pub mod scim_users;
pub mod sign_in;
pub mod view;

pub use record::{role_label, user_json, Profile};
pub use sign_in::{reconcile, Outcome, Reconciled, Refusal, SignIn};
pub use view::{view, UserView};
