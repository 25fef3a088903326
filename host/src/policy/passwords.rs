//! The policy's password rules, checked whenever a password is set: length in characters,
//! the optional composition classes, context words and a blocklist. A password may not contain
//! a context word (a word of the organisation's name or slug, of the email's local part, the
//! email domain's first label, or the tenant's own blocked words), also under digit-for-letter
//! swaps. The blocklist of common and breached passwords is zxcvbn's (crate `zxcvbn`, weighed
//! against a hand-kept list: it carries those lists and catches them under l33t, reversal,
//! repeats and keyboard walks); a password passes when zxcvbn estimates at least 10^8 guesses
//! (its score 3). CPU-bound: call it on the blocking pool.

use secrecy::{ExposeSecret, SecretString};

use super::document::Policy;
use crate::error::Error;

/// What a password is checked against besides the policy: the words it must not lean on.
pub struct Context<'a> {
    pub tenant_name: &'a str,
    pub tenant_slug: &'a str,
    pub email: &'a str,
}

/// Checks `password` against `policy`; the error says which rule failed and how to pass it.
pub fn check<'a>(
    policy: &Policy,
    password: &SecretString,
    context: &Context<'a>,
) -> Result<(), Error> {
    let text = password.expose_secret();
    let n = text.chars().count();
    let (min, max) = (
        usize::from(policy.min_password()),
        usize::from(policy.passwords.max_length),
    );
    if n < min || n > max {
        return Err(Error::invalid(
            "password",
            format!("must be {min} to {max} characters"),
        ));
    }
    let rules = policy.passwords.composition;
    let missing: Vec<&str> = [
        (
            rules.lowercase,
            "a lowercase letter",
            text.chars().any(char::is_lowercase),
        ),
        (
            rules.uppercase,
            "an uppercase letter",
            text.chars().any(char::is_uppercase),
        ),
        (
            rules.digit,
            "a digit",
            text.chars().any(|c| c.is_ascii_digit()),
        ),
        (
            rules.symbol,
            "a symbol",
            text.chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace()),
        ),
    ]
    .into_iter()
    .filter(|(required, _, present)| *required && !present)
    .map(|(_, what, _)| what)
    .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "password",
            format!("must contain {}", missing.join(", ")),
        ));
    }
    let mut words: Vec<&str> = Vec::new();
    let parts = |s: &'a str| s.split(|c: char| !c.is_alphanumeric());
    words.extend(parts(context.tenant_name));
    words.extend(parts(context.tenant_slug));
    if let Some((local, domain)) = context.email.split_once('@') {
        words.extend(parts(local));
        words.extend(domain.split('.').next());
    }
    words.extend(policy.passwords.blocked_words.iter().map(String::as_str));
    if let Some(word) = contained_word(text, &words) {
        return Err(Error::invalid(
            "password",
            format!(
                "contains \"{word}\", which is part of the organisation's name, the email or \
                 a word the organisation blocks"
            ),
        ));
    }
    let estimate = zxcvbn::zxcvbn(text, &words);
    if estimate.score() < zxcvbn::Score::Three {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(Error::invalid(
            "password",
            format!(
                "is too easy to guess: it is or resembles a common or breached password{hint}; \
                 a passphrase of several unrelated words works well"
            ),
        ));
    }
    Ok(())
}

/// Context words shorter than this are not looked for (they would refuse too much: "inc").
const MIN_CONTEXT_WORD: usize = 4;

/// The first of `words` (at least [`MIN_CONTEXT_WORD`] characters) that `password` contains,
/// ignoring case and the usual digit-for-letter swaps.
fn contained_word<'w>(password: &str, words: &[&'w str]) -> Option<&'w str> {
    let plain = |s: &str| -> String {
        s.chars()
            .flat_map(char::to_lowercase)
            .map(|c| match c {
                '0' => 'o',
                '1' | '!' => 'i',
                '3' => 'e',
                '4' | '@' => 'a',
                '5' | '$' => 's',
                '7' => 't',
                other => other,
            })
            .collect()
    };
    let (lowered, swapped) = (password.to_lowercase(), plain(password));
    words
        .iter()
        .filter(|w| w.chars().count() >= MIN_CONTEXT_WORD)
        .find(|w| {
            let w = w.to_lowercase();
            lowered.contains(&w) || swapped.contains(&plain(&w))
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::document::MfaRequired;

    fn context() -> Context<'static> {
        Context {
            tenant_name: "Acme Rockets",
            tenant_slug: "acme",
            email: "wile.coyote@acme.example",
        }
    }

    fn ok(policy: &Policy, pw: &str) -> bool {
        check(policy, &SecretString::from(pw), &context()).is_ok()
    }

    #[test]
    fn length_blocklist_and_context_words() {
        let p = Policy::default();
        assert!(ok(&p, "violet staple kayak thunder"));
        assert!(!ok(&p, "short but odd!"), "under 15 characters");
        assert!(!ok(&p, "password1234567890"), "a common password");
        assert!(!ok(&p, "acmerocketsacme2024"), "the organisation's name");
        assert!(!ok(&p, "wile.coyote@acme.example"), "the email");
        let mut p = Policy::default();
        p.passwords.blocked_words = vec!["roadrunner".into()];
        assert!(!ok(&p, "roadrunnerroadrunner1"));
        p.mfa.required = MfaRequired::Direct;
        assert!(ok(&p, "vq8#Lm2!zR"), "8 is enough with MFA");
        assert!(!ok(&p, &"x".repeat(257)), "over the maximum");
    }

    #[test]
    fn composition_is_off_by_default_and_checked_when_on() {
        let mut p = Policy::default();
        assert!(ok(&p, "violet staple kayak thunder"));
        p.passwords.composition.uppercase = true;
        p.passwords.composition.digit = true;
        let e = check(
            &p,
            &SecretString::from("violet staple kayak thunder"),
            &context(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("an uppercase letter, a digit"),
            "{e}"
        );
        assert!(ok(&p, "Violet staple kayak thunder 9"));
    }
}
