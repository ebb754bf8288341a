//! AWS Signature Version 4 for S3 requests, which every S3-compatible store (Minio, Ceph,
//! moto) accepts: a canonical request, the string to sign and the derived signing key, as AWS's
//! documentation of "Signature Version 4 signing process" lays them out.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but the unreserved characters `A-Z a-z 0-9 - _ . ~` is percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// In paths `/` separates segments and stays as it is.
const PATH: &AsciiSet = &QUERY.remove(b'/');

pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

pub fn encode_query(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A request to sign: `path` already encoded, `query` pairs not yet.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub payload_sha256: &'a str,
}

#[derive(Debug)]
pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// The headers a signed request carries: `x-amz-date`, `x-amz-content-sha256` and
/// `authorization` (`host` is sent by the caller as signed).
pub fn sign(req: &Request<'_>, creds: &Credentials<'_>, now: SystemTime) -> [(String, String); 3] {
    let (date, stamp) = timestamps(now);
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode_query(k), encode_query(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{}\n{}\n{query}\nhost:{}\nx-amz-content-sha256:{}\nx-amz-date:{stamp}\n\n{signed_headers}\n{}",
        req.method, req.path, req.host, req.payload_sha256, req.payload_sha256
    );
    let scope = format!("{date}/{}/s3/aws4_request", creds.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let key = ["s3", "aws4_request"].iter().fold(
        hmac(
            &hmac(format!("AWS4{}", creds.secret_key).as_bytes(), &date),
            creds.region,
        ),
        |key, part| hmac(&key, part),
    );
    let signature = hex::encode(hmac(&key, &to_sign));
    [
        ("x-amz-date".into(), stamp),
        ("x-amz-content-sha256".into(), req.payload_sha256.to_string()),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                creds.access_key
            ),
        ),
    ]
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` in UTC.
fn timestamps(now: SystemTime) -> (String, String) {
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    (date, stamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        assert_eq!(
            timestamps(t),
            ("20130524".into(), "20130524T000000Z".into())
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_599); // 2000-02-29T11:59:59Z
        assert_eq!(timestamps(leap).1, "20000229T115959Z");
    }

    /// The credentials and request of AWS's documented GET example (without its Range header),
    /// against a signature computed independently with Python's hmac and hashlib.
    #[test]
    fn signature_matches_an_independent_computation() {
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
        };
        let empty = sha256_hex(b"");
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: &[],
            payload_sha256: &empty,
        };
        let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let headers = sign(&req, &creds, t);
        assert_eq!(headers[0].1, "20130524T000000Z");
        assert!(
            headers[2].1.ends_with(
                "Signature=df548e2ce037944d03f3e68682813b093763996d597cf890ca3d9037fd231eb4"
            ),
            "{}",
            headers[2].1
        );
    }

    #[test]
    fn query_values_are_encoded_but_path_slashes_are_kept() {
        assert_eq!(encode_query("a/b c"), "a%2Fb%20c");
        assert_eq!(encode_path("/bucket/dir/x y.txt"), "/bucket/dir/x%20y.txt");
    }
}
