//! Looking up raw attributes by name, and consuming the ones an adapter interprets. What is not
//! taken comes back from [`Claims::into_rest`] unchanged, in the IdP's order, for later stages.
//!
//! Names match ASCII case-insensitively: IdPs and admins disagree on `givenName` / `givenname`,
//! and no IdP sends two claims that differ only in case. A value counts only when it is not
//! blank; values are trimmed when taken.

use crate::Attr;

/// The raw attributes of one login, each either still available or taken.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The attributes in the IdP's order.
    attrs: Vec<Attr>,
    /// `taken[i]` once `attrs[i]` has been interpreted; it then no longer passes through.
    taken: Vec<bool>,
}

impl Claims {
    /// Wraps the raw attributes, none taken.
    pub fn new(attrs: Vec<Attr>) -> Self {
        let taken = vec![false; attrs.len()];
        Self { attrs, taken }
    }

    /// Indexes of the available attributes called `name`.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        (0..self.attrs.len())
            .filter(move |&i| !self.taken[i] && self.attrs[i].name.eq_ignore_ascii_case(name))
    }

    /// The first available attribute with a non-blank value that `accept`s, trying `names` in
    /// order of preference, and that value trimmed.
    fn first_filled<S: AsRef<str>>(
        &self,
        names: &[S],
        accept: impl Fn(&str) -> bool,
    ) -> Option<(usize, &str)> {
        names.iter().find_map(|name| {
            self.named(name.as_ref()).find_map(|i| {
                first_value(&self.attrs[i])
                    .filter(|v| accept(v))
                    .map(|v| (i, v))
            })
        })
    }

    /// Like [`Claims::take`], without taking it.
    pub fn get<S: AsRef<str>>(&self, names: &[S]) -> Option<&str> {
        self.first_filled(names, |_| true).map(|(_, v)| v)
    }

    /// True when an available attribute called `name` is present, even with no value.
    pub fn contains(&self, name: &str) -> bool {
        self.named(name).next().is_some()
    }

    /// The first non-blank value of the first of `names` present, trimmed; that attribute is
    /// taken. Attributes with other names from the list stay available.
    pub fn take<S: AsRef<str>>(&mut self, names: &[S]) -> Option<String> {
        self.take_if(names, |_| true)
    }

    /// Like [`Claims::take`], skipping attributes whose value `accept` refuses; those stay
    /// available.
    pub fn take_if<S: AsRef<str>>(
        &mut self,
        names: &[S],
        accept: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let (i, value) = self.first_filled(names, accept)?;
        let value = value.to_string();
        self.taken[i] = true;
        Some(value)
    }

    /// Every non-blank value of every attribute called one of `names`, trimmed, in order of
    /// `names` and then of the values, without repeats; all of those attributes are taken.
    pub fn take_all<S: AsRef<str>>(&mut self, names: &[S]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for name in names {
            let found: Vec<usize> = self.named(name.as_ref()).collect();
            for i in found {
                self.taken[i] = true;
                for value in self.attrs[i].values.iter().map(|v| v.trim()) {
                    if !value.is_empty() && !out.iter().any(|seen| seen == value) {
                        out.push(value.to_string());
                    }
                }
            }
        }
        out
    }

    /// The attributes not taken, unchanged and in the IdP's order.
    pub fn into_rest(self) -> Vec<Attr> {
        self.attrs
            .into_iter()
            .zip(self.taken)
            .filter_map(|(attr, taken)| (!taken).then_some(attr))
            .collect()
    }
}

/// The first non-blank value of `attr`, trimmed.
fn first_value(attr: &Attr) -> Option<&str> {
    attr.values.iter().map(|v| v.trim()).find(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, values: &[&str]) -> Attr {
        Attr {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn take_prefers_the_first_name_and_leaves_the_rest() {
        let mut claims = Claims::new(vec![
            attr("mail", &["m@example.com"]),
            attr("Email", &[" ", "e@example.com "]),
            attr("locale", &["de"]),
        ]);
        assert_eq!(
            claims.take(&["email", "mail"]).as_deref(),
            Some("e@example.com")
        );
        assert_eq!(
            claims.into_rest(),
            [attr("mail", &["m@example.com"]), attr("locale", &["de"])]
        );
    }

    #[test]
    fn take_if_skips_refused_values() {
        let mut claims = Claims::new(vec![attr("email", &["nope"]), attr("mail", &["m@x.org"])]);
        let email = claims.take_if(&["email", "mail"], crate::looks_like_email);
        assert_eq!(email.as_deref(), Some("m@x.org"));
        assert_eq!(claims.into_rest(), [attr("email", &["nope"])]);
    }

    #[test]
    fn blank_attributes_do_not_count_as_present_values() {
        let claims = Claims::new(vec![attr("email", &[""]), attr("mail", &["m@x.org"])]);
        assert_eq!(claims.get(&["email", "mail"]), Some("m@x.org"));
        assert!(claims.contains("EMAIL"));
    }

    #[test]
    fn take_all_merges_and_deduplicates() {
        let mut claims = Claims::new(vec![
            attr("memberOf", &["b", "a"]),
            attr("groups", &["a", "c", ""]),
        ]);
        assert_eq!(claims.take_all(&["groups", "memberOf"]), ["a", "c", "b"]);
        assert!(claims.into_rest().is_empty());
    }
}
