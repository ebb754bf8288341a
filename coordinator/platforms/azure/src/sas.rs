//! Account shared access signatures (SAS) for the Blob service, signed with a storage account key.
//!
//! Microsoft's `azure_storage_blob` authenticates with Entra ID tokens or with a SAS already in
//! the URL; it has no shared-key signing. sebs holds the account key (from Azure Resource
//! Manager's `listKeys`, or azurite's well-known development key), so it signs an account SAS
//! itself: HMAC-SHA256 over the string-to-sign of service version 2020-12-06 and later, keyed
//! with the base64-decoded account key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The service version the signature follows (its string-to-sign ends with the encryption scope).
const SAS_VERSION: &str = "2022-11-02";
/// Read, write, delete, list, add, create.
const PERMISSIONS: &str = "rwdlac";

/// A storage account name and its key. The key is never printed.
#[derive(Clone)]
pub struct AccountKey {
    pub account: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountKey")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl AccountKey {
    /// `key` is the base64 text Azure shows for the account's key.
    pub fn new(account: &str, key: &str) -> Result<Self, String> {
        let key = BASE64
            .decode(key.trim())
            .map_err(|e| format!("the key of storage account `{account}` is not base64: {e}"))?;
        Ok(AccountKey {
            account: account.to_string(),
            key,
        })
    }

    /// The key as Azure shows it (base64), for connection strings.
    pub fn key_base64(&self) -> String {
        BASE64.encode(&self.key)
    }

    /// The query pairs of an account SAS for blobs, containers and the service, valid from a
    /// few minutes ago (clock skew) until `lifetime` from now.
    pub fn blob_sas(&self, now: SystemTime, lifetime: Duration) -> Vec<(&'static str, String)> {
        let start = iso8601(now.checked_sub(Duration::from_secs(300)).unwrap_or(now));
        let expiry = iso8601(now + lifetime);
        let (services, resource_types, protocols) = ("b", "sco", "https,http");
        let string_to_sign = format!(
            "{}\n{PERMISSIONS}\n{services}\n{resource_types}\n{start}\n{expiry}\n\n{protocols}\n{SAS_VERSION}\n\n",
            self.account
        );
        let signature = self.sign(&string_to_sign);
        vec![
            ("sv", SAS_VERSION.to_string()),
            ("ss", services.to_string()),
            ("srt", resource_types.to_string()),
            ("sp", PERMISSIONS.to_string()),
            ("st", start),
            ("se", expiry),
            ("spr", protocols.to_string()),
            ("sig", signature),
        ]
    }

    fn sign(&self, text: &str) -> String {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(text.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }
}

/// `2026-05-01T12:00:00Z`: UTC to the second, as SAS fields are written.
fn iso8601(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_seconds() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2024-02-29 (a leap day) 13:14:15 UTC.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_212_455);
        assert_eq!(iso8601(t), "2024-02-29T13:14:15Z");
    }

    #[test]
    fn signs_the_documented_string_to_sign() {
        // Azurite's public development account and key.
        let key = AccountKey::new(
            "devstoreaccount1",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_709_212_455);
        let pairs = key.blob_sas(now, Duration::from_secs(3600));
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("st"), Some("2024-02-29T13:09:15Z"));
        assert_eq!(get("se"), Some("2024-02-29T14:14:15Z"));
        // HMAC-SHA256 of the documented string-to-sign
        // ("devstoreaccount1\nrwdlac\nb\nsco\n<st>\n<se>\n\nhttps,http\n2022-11-02\n\n"),
        // computed independently with Python's hmac module.
        assert_eq!(
            get("sig"),
            Some("ry+r11y1XNwe4QJ/hconw5Jazxig28juSsnU6BXpQ9w=")
        );
        assert!(format!("{key:?}").contains("<redacted>"));
    }

    #[test]
    fn a_key_that_is_not_base64_is_an_error_naming_the_account() {
        let err = AccountKey::new("acct", "not base64!").unwrap_err();
        assert!(err.contains("`acct`"), "{err}");
    }
}
