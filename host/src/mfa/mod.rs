//! Multi-factor authentication with TOTP authenticator apps (RFC 6238) and recovery codes:
//! the code arithmetic and QR rendering ([`totp`]), recovery codes ([`recovery`]), a user's
//! enrolment ([`enrol`]), checking a code with its throttle and lock ([`verify`]), the
//! second step of a sign-in ([`challenge`]) and the administrator's view and actions
//! ([`admin`]). Secrets are sealed with the tenant's data key; recovery codes are stored
//! hashed.

pub mod admin;
pub mod challenge;
pub mod enrol;
pub mod recovery;
pub mod totp;
pub mod verify;
