//! Which S3 operation a request presigns, from its `method`, `upload_id` and `part_number`, the
//! way S3's own REST API tells them apart; and which fields each operation takes.

use super::super::allow_list::Method;

/// An S3 operation a URL can be presigned for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetObject,
    HeadObject,
    PutObject,
    DeleteObject,
    /// `POST ?uploads`.
    CreateMultipartUpload,
    /// `PUT ?partNumber&uploadId`.
    UploadPart,
    /// `POST ?uploadId`.
    CompleteMultipartUpload,
    /// `GET ?uploadId`.
    ListParts,
    /// `DELETE ?uploadId`.
    AbortMultipartUpload,
}

impl Operation {
    /// The operation of `method` with an `upload_id` or `part_number` or neither; `Err` names the
    /// field that does not fit, with why.
    pub fn of(
        method: Method,
        upload_id: bool,
        part_number: bool,
    ) -> Result<Operation, (&'static str, &'static str)> {
        use Operation::*;
        if part_number && !upload_id {
            let why =
                "only applies with upload_id (UploadPart is PUT with upload_id and part_number)";
            return Err(("part_number", why));
        }
        // With upload_id: the multipart flow; `part_number` only makes a PUT an UploadPart.
        match (method, upload_id) {
            (Method::Get, false) => Ok(GetObject),
            (Method::Get, true) => Ok(ListParts),
            (Method::Head, false) => Ok(HeadObject),
            (Method::Head, true) => Err((
                "upload_id",
                "does not apply to HEAD (ListParts is GET with upload_id)",
            )),
            (Method::Put, false) => Ok(PutObject),
            (Method::Put, true) if part_number => Ok(UploadPart),
            (Method::Put, true) => Err((
                "part_number",
                "is required with upload_id on PUT (UploadPart)",
            )),
            (Method::Delete, false) => Ok(DeleteObject),
            (Method::Delete, true) => Ok(AbortMultipartUpload),
            (Method::Post, false) => Ok(CreateMultipartUpload),
            (Method::Post, true) if !part_number => Ok(CompleteMultipartUpload),
            (Method::Post, true) => Err((
                "part_number",
                "does not apply to POST (CompleteMultipartUpload takes upload_id alone)",
            )),
        }
    }

    /// What the allow-list is asked: the multipart flow is a way of uploading, so `PUT` allows all
    /// of it (aborting an upload included); deleting an object needs `DELETE`.
    pub fn allow_list_method(self) -> Method {
        use Operation::*;
        match self {
            GetObject => Method::Get,
            HeadObject => Method::Head,
            DeleteObject => Method::Delete,
            PutObject
            | CreateMultipartUpload
            | UploadPart
            | CompleteMultipartUpload
            | ListParts
            | AbortMultipartUpload => Method::Put,
        }
    }

    /// S3's name, for log lines.
    pub fn as_str(self) -> &'static str {
        use Operation::*;
        match self {
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            PutObject => "PutObject",
            DeleteObject => "DeleteObject",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            ListParts => "ListParts",
            AbortMultipartUpload => "AbortMultipartUpload",
        }
    }
}

/// Every operation: fields that decide which operation it is, or apply to all.
pub const EVERY: &[Operation] = &[
    Operation::GetObject,
    Operation::HeadObject,
    Operation::PutObject,
    Operation::DeleteObject,
    Operation::CreateMultipartUpload,
    Operation::UploadPart,
    Operation::CompleteMultipartUpload,
    Operation::ListParts,
    Operation::AbortMultipartUpload,
];
/// `version_id`: the operations that name one object version.
pub const VERSIONED: &[Operation] = &[
    Operation::GetObject,
    Operation::HeadObject,
    Operation::DeleteObject,
];
/// Response overrides: only GetObject sends a body whose headers they replace.
pub const GET_ONLY: &[Operation] = &[Operation::GetObject];
/// Headers describing the object: set where it is created (a PUT, or a multipart upload's Create).
pub const OBJECT_HEADERS: &[Operation] = &[Operation::PutObject, Operation::CreateMultipartUpload];
/// Headers describing one body sent: a PUT's or a part's.
pub const BODY_HEADERS: &[Operation] = &[Operation::PutObject, Operation::UploadPart];

/// `GET`, `PUT and POST (CreateMultipartUpload)`, `GET, HEAD and DELETE`.
pub(super) fn listed(operations: &[Operation]) -> String {
    let names: Vec<&str> = operations.iter().map(|o| described_operation(*o)).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// An operation as a caller writes it: the method, and what else makes it that operation.
pub(super) fn described_operation(operation: Operation) -> &'static str {
    match operation {
        Operation::GetObject => "GET",
        Operation::HeadObject => "HEAD",
        Operation::PutObject => "PUT",
        Operation::DeleteObject => "DELETE",
        Operation::CreateMultipartUpload => "POST (CreateMultipartUpload)",
        Operation::UploadPart => "PUT with upload_id and part_number (UploadPart)",
        Operation::CompleteMultipartUpload => "POST with upload_id (CompleteMultipartUpload)",
        Operation::ListParts => "GET with upload_id (ListParts)",
        Operation::AbortMultipartUpload => "DELETE with upload_id (AbortMultipartUpload)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S3's REST shapes, and each misfit named by its field.
    #[test]
    fn operations() {
        use Operation::*;
        let cases = [
            (Method::Get, false, false, Ok(GetObject)),
            (Method::Get, true, false, Ok(ListParts)),
            (Method::Head, false, false, Ok(HeadObject)),
            (Method::Put, false, false, Ok(PutObject)),
            (Method::Put, true, true, Ok(UploadPart)),
            (Method::Delete, false, false, Ok(DeleteObject)),
            (Method::Delete, true, false, Ok(AbortMultipartUpload)),
            (Method::Post, false, false, Ok(CreateMultipartUpload)),
            (Method::Post, true, false, Ok(CompleteMultipartUpload)),
            (Method::Put, true, false, Err("part_number")),
            (Method::Put, false, true, Err("part_number")),
            (Method::Head, true, false, Err("upload_id")),
            (Method::Post, true, true, Err("part_number")),
        ];
        for (method, upload, part, want) in cases {
            assert_eq!(
                Operation::of(method, upload, part).map_err(|(f, _)| f),
                want,
                "{method} upload_id {upload} part_number {part}"
            );
        }
        assert_eq!(AbortMultipartUpload.allow_list_method(), Method::Put);
        assert_eq!(DeleteObject.allow_list_method(), Method::Delete);
        assert_eq!(ListParts.allow_list_method(), Method::Put);
    }
}
