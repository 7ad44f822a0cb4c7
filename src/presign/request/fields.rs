//! Every field of `POST /v1/presign`, declared once: its name, whether it is required, how its
//! value is checked, which operations take it and where it goes in the URL.
//!
//! Parsing ([`crate::presign::body::read`]), the per-operation check, the layout of query
//! parameters and signed headers, `sessionguard presign`'s flags, the openapi test and README's
//! table all read [`FIELDS`]. Adding a signed PUT header is one row here (and its test): a
//! `signed` row names the field, the operations that take it, the header, the function that
//! checks its value and the help of its flag.

use super::super::body::{Check, Field};
use super::headers::{
    content_length, content_type, digest, header_text, kms_key_id, metadata,
    server_side_encryption, storage_class, tagging,
};
use super::operation::{BODY_HEADERS, EVERY, GET_ONLY, OBJECT_HEADERS, Operation, VERSIONED};
use super::params::{http_date, part_number, upload_id, version_id};
use super::{bucket, key, method, seconds};

/// What `/v1/presign` does with a field.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// The operations that take the field: on another, it is a 400 naming it.
    pub operations: &'static [Operation],
    pub sent_as: SentAs,
    /// `sessionguard presign`'s flag for it (`--` and the name with `-` for `_`), if it has one:
    /// the object, method and expiry have flags of their own.
    pub flag: Option<Flag>,
}

/// A field's flag in `sessionguard presign`: its help, and how its value is written there.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub help: &'static str,
    pub value: FlagValue,
}

/// How a flag's value becomes the field's JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagValue {
    /// A string, as given.
    Text,
    /// A number when it is one (the field's own check names anything else).
    Number,
    /// Repeatable `KEY=VALUE` pairs, an object.
    Pairs,
}

/// A flag whose value is the field's string.
const fn text(help: &'static str) -> Flag {
    Flag {
        help,
        value: FlagValue::Text,
    }
}

/// A flag whose value is a number.
const fn number(help: &'static str) -> Flag {
    Flag {
        help,
        value: FlagValue::Number,
    }
}

/// A repeatable `KEY=VALUE` flag.
const fn pairs(help: &'static str) -> Flag {
    Flag {
        help,
        value: FlagValue::Pairs,
    }
}

/// Where a field's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentAs {
    /// Read by the request itself: which object, which operation, for how long.
    Request,
    /// A query parameter inside the signature, named as S3 spells it.
    Query(&'static str),
    /// A signed header (lowercase), which the client must send exactly as given.
    Header(&'static str),
    /// One signed header per entry, the entry's name after this prefix.
    HeaderPerEntry(&'static str),
}

/// Signed headers with this prefix are checksums, of which S3 takes one per upload.
pub const CHECKSUM_HEADER: &str = "x-amz-checksum-";

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

/// A field the request itself reads (the object, the operation, the expiry): every operation
/// takes it, and `presign` has a flag of its own for it.
const fn request(name: &'static str, required: bool, parse: Check) -> Field<Place> {
    let sent_as = SentAs::Request;
    let place = Place {
        operations: EVERY,
        sent_as,
        flag: None,
    };
    Field {
        name,
        required,
        parse,
        place,
    }
}

/// An optional field signed into the URL, as a query parameter or header.
const fn signed(
    name: &'static str,
    operations: &'static [Operation],
    sent_as: SentAs,
    parse: Check,
    flag: Flag,
) -> Field<Place> {
    let flag = Some(flag);
    let place = Place {
        operations,
        sent_as,
        flag,
    };
    Field {
        name,
        required: OPTIONAL,
        parse,
        place,
    }
}

/// A GET response override: the header S3 answers the download with, signed as a query
/// parameter and checked as the header it becomes.
const fn response_override(
    name: &'static str,
    param: &'static str,
    help: &'static str,
) -> Field<Place> {
    signed(
        name,
        GET_ONLY,
        SentAs::Query(param),
        header_text,
        text(help),
    )
}

/// The fields a request may carry, in the order the unknown-field message lists them and the
/// URL carries them.
#[rustfmt::skip]
pub const FIELDS: &[Field<Place>] = {
    use SentAs::*;
    &[
        request("bucket", REQUIRED, bucket),
        request("key", REQUIRED, key),
        request("method", OPTIONAL, method),
        request("expires_in", REQUIRED, seconds),
        request("min_expires_in", OPTIONAL, seconds),
        signed("version_id", VERSIONED, Query("versionId"), version_id, text("The object version (GET, HEAD, DELETE)")),
        response_override("response_content_type", "response-content-type", "Content-Type S3 answers the download with"),
        response_override("response_content_disposition", "response-content-disposition", "Content-Disposition S3 answers with, e.g. `attachment; filename=\"q3.csv\"`"),
        response_override("response_content_encoding", "response-content-encoding", "Content-Encoding S3 answers with"),
        response_override("response_content_language", "response-content-language", "Content-Language S3 answers with"),
        response_override("response_cache_control", "response-cache-control", "Cache-Control S3 answers with"),
        signed("response_expires", GET_ONLY, Query("response-expires"), http_date, text("Expires S3 answers with (an HTTP date or RFC 3339)")),
        signed("content_type", OBJECT_HEADERS, Header("content-type"), content_type, text("Content-Type the upload must be sent with")),
        signed("content_length", BODY_HEADERS, Header("content-length"), content_length, number("Exact size of the upload in bytes")),
        signed("content_md5", BODY_HEADERS, Header("content-md5"), digest::<16>, text("Base64 MD5 of the body (Content-MD5)")),
        signed("checksum_sha256", BODY_HEADERS, Header("x-amz-checksum-sha256"), digest::<32>, text("Base64 SHA-256 of the body (x-amz-checksum-sha256)")),
        signed("checksum_crc32", BODY_HEADERS, Header("x-amz-checksum-crc32"), digest::<4>, text("Base64 CRC32 of the body (x-amz-checksum-crc32)")),
        signed("checksum_crc32c", BODY_HEADERS, Header("x-amz-checksum-crc32c"), digest::<4>, text("Base64 CRC32C of the body (x-amz-checksum-crc32c)")),
        signed("server_side_encryption", OBJECT_HEADERS, Header("x-amz-server-side-encryption"), server_side_encryption, text("AES256, aws:kms or aws:kms:dsse (x-amz-server-side-encryption)")),
        signed("sse_kms_key_id", OBJECT_HEADERS, Header("x-amz-server-side-encryption-aws-kms-key-id"), kms_key_id, text("The KMS key of an aws:kms upload")),
        signed("metadata", OBJECT_HEADERS, HeaderPerEntry("x-amz-meta-"), metadata, pairs("User metadata `KEY=VALUE` (x-amz-meta-KEY; repeatable)")),
        signed("tagging", OBJECT_HEADERS, Header("x-amz-tagging"), tagging, pairs("A tag `KEY=VALUE` (x-amz-tagging; repeatable)")),
        signed("storage_class", OBJECT_HEADERS, Header("x-amz-storage-class"), storage_class, text("S3 storage class, e.g. STANDARD_IA (x-amz-storage-class)")),
        signed("cache_control", OBJECT_HEADERS, Header("cache-control"), header_text, text("Cache-Control stored with the object")),
        signed("content_disposition", OBJECT_HEADERS, Header("content-disposition"), header_text, text("Content-Disposition stored with the object")),
        signed("content_encoding", OBJECT_HEADERS, Header("content-encoding"), header_text, text("Content-Encoding stored with the object")),
        request("upload_id", OPTIONAL, upload_id),
        request("part_number", OPTIONAL, part_number),
    ]
};
