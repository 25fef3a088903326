//! Encrypted assertions (XML Encryption 1.1 as SAML uses it): the SP's decryption keys,
//! generated per connection and rotated by adding a new key before removing the old, and the
//! decryption of a `<saml:EncryptedAssertion>` back into the response it came in, so the
//! ordinary checks in `response` then run on it. Key transport: RSA-OAEP only (RSA PKCS#1
//! v1.5 is refused: it is open to padding-oracle attacks). Content: AES-GCM; AES-CBC and
//! 3DES-CBC (still the default of several IdPs) only on a connection that allows CBC, since
//! unauthenticated CBC is what XML Encryption's known plaintext-recovery attacks use. Every
//! failure after the algorithms are read is one [`Rejection::Undecryptable`] (see there).
//! Every length is checked before slicing.

use openssl::pkey::{PKey, Private};
use openssl::rsa::Padding;
use openssl::symm::Cipher;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use super::Rejection;
use crate::types::Timestamp;

/// Largest decrypted assertion accepted (the response cap applies to the ciphertext).
const MAX_PLAINTEXT: usize = 512 * 1024;

/// The public half of an SP decryption key, kept in the connection's settings and published
/// in SP metadata.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = SamlSpKey)]
pub struct SpKey {
    pub id: String,
    /// Base64 DER of the self-signed certificate IdPs encrypt to.
    pub certificate: String,
    pub created_at: Timestamp,
}

/// A new RSA-2048 key and a self-signed certificate for it (valid ten years: IdPs use it only
/// as a key container). Returns the public part and the private key as PEM.
pub fn generate(
    subject: &str,
    now: Timestamp,
) -> anyhow::Result<(SpKey, zeroize::Zeroizing<String>)> {
    use base64::Engine;
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let key = PKey::from_rsa(rsa)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", &crate::types::truncate(subject, 60))?;
    let name = name.build();
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let start = now.as_micros() / 1_000_000 - 86_400;
    let not_before = Asn1Time::from_unix(start)?;
    let not_after = Asn1Time::from_unix(start + 10 * 365 * 86_400)?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    builder.sign(&key, MessageDigest::sha256())?;
    let cert = builder.build();
    let pem = String::from_utf8(key.private_key_to_pem_pkcs8()?)?;
    let mut id = [0u8; 8];
    openssl::rand::rand_bytes(&mut id)?;
    Ok((
        SpKey {
            id: hex::encode(id),
            certificate: base64::engine::general_purpose::STANDARD.encode(cert.to_der()?),
            created_at: now,
        },
        zeroize::Zeroizing::new(pem),
    ))
}

/// Parses a stored private key.
pub fn private_key(pem: &str) -> Option<PKey<Private>> {
    PKey::private_key_from_pem(pem.as_bytes()).ok()
}

/// The byte span of the first element named `local` (start tag to end tag), if any.
pub(super) fn element_span(xml: &str, local: &[u8]) -> Result<Option<(usize, usize)>, Rejection> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut start = None;
    let mut depth = 0usize;
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| Rejection::Malformed(format!("not well-formed XML: {e}")))?;
        let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        match event {
            Event::Start(e) if start.is_none() && e.local_name().as_ref() == local => {
                start = Some(before);
                depth = 1;
            }
            Event::Empty(e) if start.is_none() && e.local_name().as_ref() == local => {
                return Ok(Some((before, after)));
            }
            Event::Start(_) if start.is_some() => depth += 1,
            Event::End(_) if start.is_some() => {
                depth -= 1;
                if depth == 0 {
                    return Ok(start.map(|s| (s, after)));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

fn base64_decode(text: &str) -> Result<Vec<u8>, Rejection> {
    use base64::Engine;
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| Rejection::Malformed("encrypted data is not base64".into()))
}

fn unwrap_key(cipher: &[u8], method: &str, key: &PKey<Private>) -> Option<Vec<u8>> {
    match method {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
        | "http://www.w3.org/2009/xmlenc11#rsa-oaep" => {}
        _ => return None,
    }
    let rsa = key.rsa().ok()?;
    let mut out = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(cipher, &mut out, Padding::PKCS1_OAEP)
        .ok()?;
    out.truncate(n);
    Some(out)
}

/// The content cipher `method` names, and whether it is GCM; refused unless GCM or allowed.
fn content_cipher(method: &str, allow_cbc: bool) -> Result<(Cipher, bool), Rejection> {
    let (cipher, gcm) = match method {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc" => (Cipher::aes_128_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes192-cbc" => (Cipher::aes_192_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc" => (Cipher::aes_256_cbc(), false),
        "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" => (Cipher::des_ede3_cbc(), false),
        "http://www.w3.org/2009/xmlenc11#aes128-gcm" => (Cipher::aes_128_gcm(), true),
        "http://www.w3.org/2009/xmlenc11#aes256-gcm" => (Cipher::aes_256_gcm(), true),
        _ => return Err(Rejection::Unsupported("this content encryption algorithm")),
    };
    if !gcm && !allow_cbc {
        return Err(Rejection::Unsupported(
            "CBC content encryption (AES-GCM unless the connection allows CBC)",
        ));
    }
    Ok((cipher, gcm))
}

fn decrypt_content(
    data: &[u8],
    cipher: Cipher,
    gcm: bool,
    key: &[u8],
) -> Result<Vec<u8>, Rejection> {
    let fail = || Rejection::Undecryptable("the content does not decrypt".into());
    if key.len() != cipher.key_len() {
        return Err(fail());
    }
    let iv_len = cipher.iv_len().unwrap_or(0);
    let tag_len = if gcm { 16 } else { 0 };
    if data.len() < iv_len + tag_len + 1 {
        return Err(fail());
    }
    let (iv, rest) = data.split_at(iv_len);
    if gcm {
        let (body, tag) = rest.split_at(rest.len() - tag_len);
        openssl::symm::decrypt_aead(cipher, key, Some(iv), &[], body, tag).map_err(|_| fail())
    } else {
        // XML Encryption pads with arbitrary bytes and a final length byte (not PKCS#7).
        let mut crypter =
            openssl::symm::Crypter::new(cipher, openssl::symm::Mode::Decrypt, key, Some(iv))
                .map_err(|_| fail())?;
        crypter.pad(false);
        let mut out = vec![0u8; rest.len() + cipher.block_size()];
        let mut n = crypter.update(rest, &mut out).map_err(|_| fail())?;
        n += crypter.finalize(&mut out[n..]).map_err(|_| fail())?;
        out.truncate(n);
        let pad = usize::from(*out.last().ok_or_else(fail)?);
        if pad == 0 || pad > cipher.block_size() || pad > out.len() {
            return Err(fail());
        }
        out.truncate(out.len() - pad);
        Ok(out)
    }
}

/// What an EncryptedAssertion holds: the wrapped content key and the encrypted assertion,
/// each with its algorithm. The EncryptedKey may sit inside EncryptedData's KeyInfo or
/// beside it; both are found.
#[derive(Default)]
struct Parts {
    key_method: Option<String>,
    key_value: Option<String>,
    data_method: Option<String>,
    data_value: Option<String>,
}

fn parts(xml: &str) -> Result<Parts, Rejection> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut out = Parts::default();
    let in_key = |path: &[Vec<u8>]| path.iter().any(|p| p == b"EncryptedKey");
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Rejection::Malformed(format!("EncryptedAssertion: {e}")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e)
                if e.local_name().as_ref() == b"EncryptionMethod" =>
            {
                let algorithm = e
                    .try_get_attribute("Algorithm")
                    .ok()
                    .flatten()
                    .and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
                    .unwrap_or_default();
                let slot = if in_key(&path) {
                    &mut out.key_method
                } else {
                    &mut out.data_method
                };
                slot.get_or_insert(algorithm);
                if matches!(event, Event::Start(_)) {
                    path.push(b"EncryptionMethod".to_vec());
                }
            }
            Event::Start(e) => path.push(e.local_name().as_ref().to_vec()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) if path.last().is_some_and(|p| p == b"CipherValue") => {
                let text = t
                    .decode()
                    .map_err(|_| Rejection::Malformed("CipherValue is not text".into()))?
                    .into_owned();
                let slot = if in_key(&path) {
                    &mut out.key_value
                } else {
                    &mut out.data_value
                };
                slot.get_or_insert(text);
            }
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Replaces the response's EncryptedAssertion with its plaintext, trying each SP key. CBC
/// content is refused unless `allow_cbc`.
pub fn decrypt_in_place(
    xml: &str,
    keys: &[PKey<Private>],
    allow_cbc: bool,
) -> Result<String, Rejection> {
    let (start, end) =
        element_span(xml, b"EncryptedAssertion")?.ok_or(Rejection::AssertionCount(0))?;
    let parts = parts(&xml[start..end])?;
    let missing =
        |what: &str| Rejection::Malformed(format!("the encrypted assertion carries no {what}"));
    let key_method = parts
        .key_method
        .ok_or_else(|| missing("key transport method"))?;
    if key_method == "http://www.w3.org/2001/04/xmlenc#rsa-1_5" {
        return Err(Rejection::Unsupported("RSA PKCS#1 v1.5 key transport"));
    }
    let data_method = parts.data_method.ok_or_else(|| missing("content method"))?;
    let (cipher, gcm) = content_cipher(&data_method, allow_cbc)?;
    let wrapped = base64_decode(&parts.key_value.ok_or_else(|| missing("encrypted key"))?)?;
    let data = base64_decode(&parts.data_value.ok_or_else(|| missing("cipher data"))?)?;
    let content_key = keys
        .iter()
        .find_map(|k| unwrap_key(&wrapped, &key_method, k))
        .ok_or_else(|| Rejection::Undecryptable("no key of this connection unwraps it".into()))?;
    let plain = decrypt_content(&data, cipher, gcm, &content_key)?;
    if plain.len() > MAX_PLAINTEXT {
        return Err(Rejection::Undecryptable(
            "the decrypted assertion is too large".into(),
        ));
    }
    let plain = String::from_utf8(plain)
        .map_err(|_| Rejection::Undecryptable("the decrypted assertion is not UTF-8".into()))?;
    let plain = plain.trim_start_matches(|c: char| c != '<');
    let plain = plain.strip_prefix("<?xml").map_or(plain, |rest| {
        rest.split_once("?>").map_or(rest, |(_, tail)| tail)
    });
    Ok(format!("{}{}{}", &xml[..start], plain.trim(), &xml[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    const AES128_GCM: &str = "http://www.w3.org/2009/xmlenc11#aes128-gcm";

    #[test]
    fn short_or_wrong_ciphertext_is_an_error_not_a_panic() {
        let key = [7u8; 16];
        let (cbc, _) = content_cipher(AES128_CBC, true).unwrap();
        let (gcm, _) = content_cipher(AES128_GCM, false).unwrap();
        for data in [&[][..], &[1u8; 5][..], &[1u8; 16][..], &[1u8; 31][..]] {
            assert!(decrypt_content(data, cbc, false, &key).is_err());
            assert!(decrypt_content(data, gcm, true, &key).is_err());
        }
        assert!(
            decrypt_content(&[0u8; 64], cbc, false, &[1u8; 3]).is_err(),
            "wrong key length"
        );
        assert!(matches!(
            content_cipher("urn:made-up", true),
            Err(Rejection::Unsupported(_))
        ));
        // CBC only where the connection allows it.
        assert!(matches!(
            content_cipher(AES128_CBC, false),
            Err(Rejection::Unsupported(_))
        ));
    }

    #[test]
    fn cbc_content_round_trips_with_xml_encryption_padding() {
        let key = [9u8; 16];
        let iv = [3u8; 16];
        // XML Encryption padding: arbitrary bytes, then the pad length.
        let mut plain = b"<saml:Assertion/>".to_vec();
        let pad = 16 - plain.len() % 16;
        plain.extend(std::iter::repeat_n(0xAA, pad - 1));
        plain.push(pad as u8);
        let mut c = openssl::symm::Crypter::new(
            Cipher::aes_128_cbc(),
            openssl::symm::Mode::Encrypt,
            &key,
            Some(&iv),
        )
        .unwrap();
        c.pad(false);
        let mut out = vec![0u8; plain.len() + 16];
        let n = c.update(&plain, &mut out).unwrap();
        let m = c.finalize(&mut out[n..]).unwrap();
        out.truncate(n + m);
        let data = [&iv[..], &out].concat();
        let (cbc, _) = content_cipher(AES128_CBC, true).unwrap();
        assert_eq!(
            decrypt_content(&data, cbc, false, &key).unwrap(),
            b"<saml:Assertion/>"
        );
    }

    #[test]
    fn the_encrypted_parts_are_found_wherever_the_key_sits() {
        let xml = r#"<saml:EncryptedAssertion xmlns:saml="a"><xenc:EncryptedData xmlns:xenc="e">
            <xenc:EncryptionMethod Algorithm="data-alg"/>
            <ds:KeyInfo xmlns:ds="d"><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="key-alg"><ds:DigestMethod Algorithm="sha1"/></xenc:EncryptionMethod>
            <xenc:CipherData><xenc:CipherValue>S0VZ</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>
            <xenc:CipherData><xenc:CipherValue>REFUQQ==</xenc:CipherValue></xenc:CipherData>
            </xenc:EncryptedData></saml:EncryptedAssertion>"#;
        let p = parts(xml).unwrap();
        assert_eq!(p.key_method.as_deref(), Some("key-alg"));
        assert_eq!(p.data_method.as_deref(), Some("data-alg"));
        assert_eq!(p.key_value.as_deref(), Some("S0VZ"));
        assert_eq!(p.data_value.as_deref(), Some("REFUQQ=="));
    }
}
