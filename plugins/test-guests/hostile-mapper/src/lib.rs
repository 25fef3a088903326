//! A hostile attribute mapper for the host's containment tests. Its `mode` configuration key
//! picks the misbehaviour: `loop` (never returns), `memory` (allocates without bound), `trap`
//! (panics, which aborts the instance), `log-flood` (logs until refused), `huge-output`
//! (returns a 64 MiB-scale profile), `invalid-output` (returns a profile whose email is
//! `not an email`, which the host's output validation must refuse). Any other mode behaves
//! and returns `{subject}@example.com` as the email.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "attribute-mapper",
});

use exports::gatehouse::plugin::attributes::Guest;
use gatehouse::plugin::config;
use gatehouse::plugin::log::{self, Level};
use gatehouse::plugin::types::{Identity, PluginError, Profile};

struct Hostile;

fn email_only(email: String) -> Profile {
    Profile {
        email,
        display_name: None,
        given_name: None,
        family_name: None,
        timezone: None,
        locale: None,
        custom: Vec::new(),
    }
}

impl Guest for Hostile {
    fn map_profile(identity: Identity) -> Result<Profile, PluginError> {
        let mode = config::get("mode").ok().flatten().unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1024 * 1024]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile guest trapped on purpose"),
            "log-flood" => {
                let mut refused = 0;
                for i in 0..1000 {
                    if log::emit(Level::Info, &format!("line {i}"), &[]).is_err() {
                        refused += 1;
                    }
                }
                Err(PluginError::Rejected(format!(
                    "{refused} log lines were refused"
                )))
            }
            "huge-output" => Ok(email_only("x".repeat(8 * 1024 * 1024))),
            "invalid-output" => Ok(email_only("not an email".into())),
            _ => Ok(email_only(format!("{}@example.com", identity.subject))),
        }
    }
}

export!(Hostile);
