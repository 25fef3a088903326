//! A hostile attribute mapper for the host's containment tests. Its `mode` configuration key
//! picks the misbehaviour: `loop` (never returns), `memory` (allocates without bound), `trap`
//! (panics, which aborts the instance), `log-flood` (logs until refused), `huge-output`
//! (returns a 64 MiB-scale profile), `invalid-output` (returns a profile whose email is
//! `not an email`, which the host's output validation must refuse), `sleep` (waits on a
//! monotonic-clock subscription of `u64::MAX` nanoseconds, in host code where neither fuel nor
//! the epoch deadline reaches), `echo-config` (rejects with every configuration key and
//! value it can read, to show what the host handed it), `wide-output` (returns a custom
//! attribute whose values all point at one 64 KiB block of guest memory, so the host would
//! copy far more than the guest holds). Any other mode behaves and returns `{subject}@example.com` as the email.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "attribute-mapper",
});

use exports::gatehouse::plugin::attributes::Guest;
use gatehouse::plugin::config;
use gatehouse::plugin::log::{self, Level};
use gatehouse::plugin::types::{Attribute, Identity, PluginError, Profile};

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
            "sleep" => {
                // std sleeps through wasi-libc: subscribe-duration, then poll on the pollable.
                std::thread::sleep(std::time::Duration::from_nanos(u64::MAX));
                Ok(email_only("woke@example.com".into()))
            }
            "wide-output" => Ok(wide_output()),
            "echo-config" => {
                let keys = config::keys().unwrap_or_default();
                let pairs: Vec<String> = keys
                    .iter()
                    .map(|k| format!("{k}={}", config::get(k).ok().flatten().unwrap_or_default()))
                    .collect();
                Err(PluginError::Rejected(format!("config: {}", pairs.join("; "))))
            }
            "huge-output" => Ok(email_only("x".repeat(8 * 1024 * 1024))),
            "invalid-output" => Ok(email_only("not an email".into())),
            _ => Ok(email_only(format!("{}@example.com", identity.subject))),
        }
    }
}

/// How many times `wide-output` names its one block: 96 MiB for the host to copy from 64 KiB
/// of guest memory, under wasmtime's default per-call transfer allowance (128 MiB), so only
/// the host's own bound stops it.
const WIDE_ENTRIES: usize = 1_500;

/// A profile with one custom attribute whose values all name the same 64 KiB of guest
/// memory. The canonical ABI lowers each value as a pointer and a length, so the list costs
/// the guest 12 bytes per entry and the host a full copy per entry.
fn wide_output() -> Profile {
    let block = std::mem::ManuallyDrop::new("v".repeat(64 * 1024));
    let (ptr, len) = (block.as_ptr().cast_mut(), block.len());
    let values = (0..WIDE_ENTRIES)
        // SAFETY: every alias names the same live bytes, which are never freed or written
        // by the guest; the instance is discarded after the call.
        .map(|_| unsafe { String::from_raw_parts(ptr, len, len) })
        .collect();
    let mut profile = email_only("wide@example.com".into());
    profile.custom = vec![Attribute {
        name: "wide".into(),
        values,
    }];
    profile
}

export!(Hostile);
