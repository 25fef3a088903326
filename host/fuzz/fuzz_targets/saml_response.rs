//! A SAMLResponse as the ACS receives it (after base64): the structural pre-scan, the
//! envelope parse, decryption and the signature check must refuse garbage without a panic.
#![no_main]

use gatehouse::sso::saml::response::{verify, Expectations};
use gatehouse::types::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let expect = Expectations {
        sp_entity_id: "https://sp.example/metadata",
        acs_url: "https://sp.example/acs",
        idp_entity_id: "https://idp.example/metadata",
        certificates: &[],
        decryption_keys: &[],
        allow_cbc: true,
        want_assertions_signed: true,
        skew_secs: 120,
        request_id: Some("id-1"),
        // Both the ACS path and the token exchange's presented-assertion path.
        app_solicited: data.first().is_some_and(|b| b & 1 == 1),
        now: Timestamp::from_micros(1_780_000_000_000_000),
    };
    let _ = verify(xml, &expect);
});
