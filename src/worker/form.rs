//! `multipart/form-data` for `POST /v1.3/assets`, handled as a stream.
//!
//! A direct upload's body is up to hundreds of megabytes, so the Worker never buffers it. It
//! reads only the *prefix* — the text fields and the headers of the `file` part, bounded to
//! [`MAX_PREFIX_BYTES`] — validates them, re-emits the prefix with the owner tag added to
//! `user_metadata`, and then passes the file bytes through unchanged while a [`FileTail`]
//! counts them against the size limit and checks that nothing follows the file part (a field
//! after the file could otherwise smuggle a second `user_metadata` past the owner tag).
//!
//! Everything here is pure: the Worker feeds it chunks.

use crate::core::error::{Error, ErrorCode};
use crate::core::media::{self, FileMedia};
use crate::core::wire::{
    self, user_metadata_from_json, validate_filename, CreateAssetFields, CreateAssetMethod,
    MediaType, UserMetadata,
};

/// The text fields and file-part headers must fit in this many bytes.
pub const MAX_PREFIX_BYTES: usize = 64 * 1024;

/// The form fields `POST /assets` accepts.
const KNOWN_FIELDS: &[&str] = &[
    "method",
    "url",
    "file",
    "filename",
    "enable_hls",
    "enable_thumbnail",
    "user_metadata",
];

/// Extracts the boundary of a `multipart/form-data` content type, parsed as a MIME type (the
/// `mime` crate: quoted parameters, `;` inside quotes).
pub fn boundary(content_type: &str) -> Result<String, Error> {
    let wrong_type = || {
        Error::new(
            ErrorCode::UnsupportedType,
            "POST /assets takes a multipart/form-data body.",
        )
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return Err(wrong_type());
    }
    let boundary = content_type
        .parse::<mime::Mime>()
        .ok()
        .and_then(|parsed| {
            parsed
                .get_param(mime::BOUNDARY)
                .map(|b| b.as_str().to_owned())
        })
        .unwrap_or_default();
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if boundary.is_empty()
        || boundary.len() > 70
        || !boundary.chars().all(valid_char)
        || boundary.ends_with(' ')
    {
        return Err(Error::invalid(
            "The multipart/form-data boundary is missing or invalid.",
        ));
    }
    Ok(boundary)
}

/// The `Content-Type` of a form delimited by `boundary` (one [`boundary`] accepted): the boundary
/// quoted when it holds a character a header token cannot (a space, `(`, `)`, `,`, `/`, `:`, `=`
/// or `?`), as RFC 2046 requires, so that upstream reads the boundary the body uses.
pub fn content_type(boundary: &str) -> String {
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if boundary.chars().all(token_char) {
        format!("multipart/form-data; boundary={boundary}")
    } else {
        format!("multipart/form-data; boundary=\"{boundary}\"")
    }
}

/// The headers of the `file` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// The `filename` of the part's `Content-Disposition`, if any.
    pub filename: Option<String>,
    /// The part's `Content-Type` (defaults to `application/octet-stream`).
    pub content_type: String,
}

/// The beginning of a form body: its text fields, and the `file` part's headers if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPrefix {
    /// Text fields, in order.
    pub fields: Vec<(String, String)>,
    /// The file part, whose content starts at `consumed`.
    pub file: Option<FileHeader>,
    /// How many bytes of the buffer the prefix spans (for a body without a file: all of it,
    /// up to and including the closing boundary).
    pub consumed: usize,
}

/// Parses the prefix of a form body from `buf`. `Ok(None)` means "need more bytes".
pub fn parse_prefix(buf: &[u8], boundary: &str) -> Result<Option<FormPrefix>, Error> {
    let opening = format!("--{boundary}\r\n");
    let delimiter = format!("\r\n--{boundary}");
    if buf.len() < opening.len() {
        return if opening.as_bytes().starts_with(buf) {
            Ok(None)
        } else {
            Err(malformed("the body must start with the boundary"))
        };
    }
    if !buf.starts_with(opening.as_bytes()) {
        return Err(malformed("the body must start with the boundary"));
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut pos = opening.len();
    loop {
        let Some(header_len) = find(&buf[pos..], b"\r\n\r\n") else {
            return need_more(buf);
        };
        let (name, filename, content_type) = part_headers(&buf[pos..pos + header_len])?;
        if !KNOWN_FIELDS.contains(&name.as_str()) {
            return Err(Error::invalid(format!(
                "The `{name}` parameter is unknown."
            )));
        }
        if fields.iter().any(|(n, _)| *n == name) {
            return Err(Error::invalid(format!(
                "The `{name}` parameter is given twice."
            )));
        }
        let content_start = pos + header_len + 4;
        if name == "file" {
            return Ok(Some(FormPrefix {
                fields,
                file: Some(FileHeader {
                    filename,
                    content_type: content_type
                        .unwrap_or_else(|| "application/octet-stream".to_owned()),
                }),
                consumed: content_start,
            }));
        }
        let Some(content_len) = find(&buf[content_start..], delimiter.as_bytes()) else {
            return need_more(buf);
        };
        let value = std::str::from_utf8(&buf[content_start..content_start + content_len])
            .map_err(|_| Error::invalid(format!("The `{name}` parameter is not UTF-8 text.")))?;
        fields.push((name, value.to_owned()));
        let after = content_start + content_len + delimiter.len();
        match buf.get(after..after + 2) {
            None => return need_more(buf),
            Some(b"\r\n") => pos = after + 2,
            Some(b"--") => {
                return Ok(Some(FormPrefix {
                    fields,
                    file: None,
                    consumed: buf.len(),
                }))
            }
            Some(_) => return Err(malformed("a boundary is followed by garbage")),
        }
    }
}

fn need_more(buf: &[u8]) -> Result<Option<FormPrefix>, Error> {
    if buf.len() > MAX_PREFIX_BYTES {
        Err(Error::invalid(format!(
            "The form fields before `file` exceed {MAX_PREFIX_BYTES} bytes."
        )))
    } else {
        Ok(None)
    }
}

fn malformed(why: &str) -> Error {
    Error::invalid(format!("The multipart/form-data body is malformed: {why}."))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A header parameter: its name and its value (unquoted).
type Param<'a> = (&'a str, &'a str);

/// Splits a part's `Content-Disposition` value into its disposition and its `key=value`
/// parameters, a value either a token or a quoted string in which `;` and `=` are text. Quoted
/// strings are read as browsers write them (the WHATWG form encoding percent-encodes `"`, CR and
/// LF, and escapes nothing with a backslash), so one ends at the next `"`. Written here because
/// `mime` parses only `type/subtype` values, and a Content-Disposition crate would be a second
/// parser of the same grammar for two parameters.
fn disposition_params(value: &str) -> Result<(&str, Vec<Param<'_>>), Error> {
    let (disposition, mut rest) = value.split_once(';').unwrap_or((value, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return Ok((disposition.trim(), params));
        }
        let (key, after_key) = rest
            .split_once('=')
            .ok_or_else(|| malformed("a Content-Disposition parameter has no value"))?;
        let after_key = after_key.trim_start();
        let (value, after_value) = match after_key.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| malformed("a quoted Content-Disposition value is not closed"))?;
                let after = quoted[end + 1..].trim_start();
                if !(after.is_empty() || after.starts_with(';')) {
                    return Err(malformed("text follows a quoted Content-Disposition value"));
                }
                (&quoted[..end], after)
            }
            None => {
                let end = after_key.find(';').unwrap_or(after_key.len());
                (after_key[..end].trim_end(), &after_key[end..])
            }
        };
        params.push((key.trim(), value));
        rest = after_value;
    }
}

/// Parses one part's header block: returns (field name, filename, content type).
fn part_headers(block: &[u8]) -> Result<(String, Option<String>, Option<String>), Error> {
    let text = std::str::from_utf8(block).map_err(|_| malformed("part headers are not UTF-8"))?;
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in text.split("\r\n") {
        let (header, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a part header has no colon"))?;
        let header = header.trim();
        if header.eq_ignore_ascii_case("content-disposition") {
            let (disposition, params) = disposition_params(value)?;
            if !disposition.eq_ignore_ascii_case("form-data") {
                return Err(malformed("a part is not form-data"));
            }
            for (key, value) in params {
                match key.to_ascii_lowercase().as_str() {
                    "name" => name = Some(value.to_owned()),
                    "filename" => filename = Some(value.to_owned()),
                    _ => {}
                }
            }
        } else if header.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    let name = name.ok_or_else(|| malformed("a part has no name"))?;
    Ok((name, filename, content_type))
}

/// A validated `POST /assets` form (without the file bytes): the text fields as the wire
/// types them (the same struct the browser builds its form from), and the file part's headers.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetForm {
    /// The text fields.
    pub fields: CreateAssetFields,
    /// The file part (method `direct`).
    pub file: Option<FileHeader>,
}

impl AssetForm {
    /// Validates a parsed prefix: known method, the field each method needs, typed values.
    pub fn from_prefix(prefix: &FormPrefix) -> Result<AssetForm, Error> {
        let field = |name: &str| {
            prefix
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let boolean = |name: &str| -> Result<Option<bool>, Error> {
            match field(name).as_deref().map(wire::parse_flag) {
                None => Ok(None),
                Some(Some(value)) => Ok(Some(value)),
                Some(None) => Err(Error::invalid(format!(
                    "The `{name}` parameter must be true or false."
                ))),
            }
        };
        let method = match field("method").as_deref() {
            Some("direct") => CreateAssetMethod::Direct,
            Some("url") => CreateAssetMethod::Url,
            Some(_) => {
                return Err(Error::invalid(
                    "The `method` parameter must be `direct` or `url`.",
                ))
            }
            None => {
                return Err(Error::invalid(
                    "The `method` parameter is required but was not provided.",
                ))
            }
        };
        let url = field("url");
        match (method, &url, &prefix.file) {
            (CreateAssetMethod::Direct, None, Some(_))
            | (CreateAssetMethod::Url, Some(_), None) => {}
            (CreateAssetMethod::Direct, _, _) => {
                return Err(Error::invalid(
                    "`method=direct` needs a `file` part (after all other fields) and no `url`.",
                ))
            }
            (CreateAssetMethod::Url, _, _) => {
                return Err(Error::invalid(
                    "`method=url` needs a `url` parameter and no `file`.",
                ))
            }
        }
        let filename = field("filename");
        if let Some(name) = &filename {
            validate_filename(name)?;
        }
        // The file part's own name goes upstream too: the same rules as the field.
        if let Some(name) = prefix.file.as_ref().and_then(|f| f.filename.as_deref()) {
            validate_filename(name).map_err(|e| {
                Error::invalid(e.message.replacen(
                    "The `filename` parameter",
                    "The file part's `filename`",
                    1,
                ))
            })?;
        }
        let user_metadata = match field("user_metadata") {
            None => None,
            Some(text) => {
                let value = serde_json::from_str(&text).map_err(|_| {
                    Error::invalid("The `user_metadata` parameter must be a JSON object.")
                })?;
                Some(user_metadata_from_json(value)?)
            }
        };
        Ok(AssetForm {
            fields: CreateAssetFields {
                method,
                url,
                filename,
                enable_hls: boolean("enable_hls")?,
                enable_thumbnail: boolean("enable_thumbnail")?,
                user_metadata,
            },
            file: prefix.file.clone(),
        })
    }

    /// The checked media of a direct upload's file part: its `Content-Type` parsed strictly,
    /// and agreeing with every file name sent along, given the media types the upload may be
    /// stored as (`allowed`; see [`crate::core::media`]).
    pub fn direct_media(&self, allowed: impl Fn(MediaType) -> bool) -> Result<FileMedia, Error> {
        let file = self.file.as_ref();
        let names: Vec<&str> = [
            self.fields.filename.as_deref(),
            file.and_then(|f| f.filename.as_deref()),
        ]
        .into_iter()
        .flatten()
        .collect();
        media::file_media(
            file.map_or("", |f| f.content_type.as_str()),
            &names,
            allowed,
        )
    }

    /// The text fields to send upstream, `user_metadata` replaced by `metadata` (the owner-tagged
    /// version), in the wire encoding and order of [`CreateAssetFields::form_fields`].
    pub fn upstream_fields(&self, metadata: UserMetadata) -> Vec<(&'static str, String)> {
        CreateAssetFields {
            user_metadata: Some(metadata),
            ..self.fields.clone()
        }
        .form_fields()
    }
}

/// Writes a form prefix: the text fields, then either the `file` part's headers (its content
/// follows) or the closing boundary. Refuses a value that contains the boundary.
pub fn build_prefix(
    boundary: &str,
    fields: &[(&str, String)],
    file: Option<&FileHeader>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for (name, value) in fields {
        if value.contains(boundary) {
            return Err(Error::invalid(format!(
                "The `{name}` parameter contains the multipart boundary."
            )));
        }
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    match file {
        Some(file) => {
            let filename = file
                .filename
                .as_deref()
                .unwrap_or("upload")
                .replace(['"', '\r', '\n'], "_");
            out.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {}\r\n\r\n",
                    file.content_type.replace(['\r', '\n'], "")
                )
                .as_bytes(),
            );
        }
        None => out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes()),
    }
    Ok(out)
}

/// Watches the bytes after the file part's headers as they stream through: counts the file's
/// content against `limit`, and checks the part is followed only by the closing boundary.
#[derive(Debug)]
pub struct FileTail {
    delimiter: Vec<u8>,
    limit: u64,
    /// Bytes seen so far (content, then delimiter and whatever follows).
    seen: u64,
    /// Content length, once the delimiter has been found.
    content_len: Option<u64>,
    /// The last bytes seen, held back from upstream until the body has ended well (see
    /// [`FileTail::push`]); also where a delimiter split across chunks, and what follows the
    /// delimiter, are read.
    held: Vec<u8>,
}

impl FileTail {
    /// Watches a file part delimited by `boundary`, allowing at most `limit` content bytes.
    pub fn new(boundary: &str, limit: u64) -> FileTail {
        FileTail {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            limit,
            seen: 0,
            content_len: None,
            held: Vec::new(),
        }
    }

    /// Checks the next chunk and returns the bytes that may now go upstream (often all but the
    /// last few). An error means the body must not reach upstream. The last bytes seen (the
    /// delimiter's length and four more) are held back until [`FileTail::finish`] accepts the
    /// body's end: the closing boundary is among them, so upstream never sees a complete form
    /// (and makes no asset) for a body refused after its closing boundary (an epilogue, a read
    /// error). Each byte is copied once, into the held bytes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        // A delimiter may begin in the last `delimiter.len() - 1` bytes already held.
        let search_from = self.held.len().saturating_sub(self.delimiter.len() - 1);
        self.held.extend_from_slice(chunk);
        self.seen += chunk.len() as u64;
        if self.content_len.is_none() {
            if let Some(at) = find(&self.held[search_from..], &self.delimiter) {
                self.content_len = Some(self.held_start() + (search_from + at) as u64);
            }
        }
        // Bytes that can no longer be the start of a delimiter are certainly content.
        let certain_content = self
            .content_len
            .unwrap_or(self.seen.saturating_sub(self.delimiter.len() as u64 - 1));
        if certain_content > self.limit {
            return Err(too_large(self.limit));
        }
        self.check_after_delimiter()?;
        let keep = self.delimiter.len() + 4;
        let still_held = self.held.split_off(self.held.len().saturating_sub(keep));
        Ok(std::mem::replace(&mut self.held, still_held))
    }

    /// Where in the body the first held byte is.
    fn held_start(&self) -> u64 {
        self.seen - self.held.len() as u64
    }

    /// The bytes seen after the delimiter, once it has been found. Only up to four may follow
    /// it (`--` and a line break), so they are always among the held bytes.
    fn after_delimiter(&self) -> Option<&[u8]> {
        let end = self.content_len? + self.delimiter.len() as u64;
        let from = end.checked_sub(self.held_start())?;
        self.held.get(usize::try_from(from).ok()?..)
    }

    fn check_after_delimiter(&self) -> Result<(), Error> {
        let Some(after) = self.after_delimiter() else {
            return Ok(());
        };
        if after.len() < 2 {
            return Ok(());
        }
        if !after.starts_with(b"--") {
            return Err(Error::invalid(
                "The `file` part must be the last part of the form.",
            ));
        }
        // Only the line break that ends the closing boundary may follow it. An epilogue is legal
        // in MIME but no client sends one, and it would travel upstream unread: a lenient parser
        // there could take a part smuggled in it (an owner tag) as part of the form.
        let epilogue = &after[2..];
        if !b"\r\n".starts_with(&epilogue[..epilogue.len().min(2)]) || epilogue.len() > 2 {
            return Err(malformed("nothing may follow the closing boundary"));
        }
        Ok(())
    }

    /// Called at the end of the body: the closing boundary must have been seen. Returns the
    /// file's size and the bytes held back, which may now go upstream.
    pub fn finish(&mut self) -> Result<(u64, Vec<u8>), Error> {
        match self.content_len {
            Some(len) if self.after_delimiter().is_some_and(|a| a.starts_with(b"--")) => {
                Ok((len, std::mem::take(&mut self.held)))
            }
            _ => Err(malformed("the body ended before the closing boundary")),
        }
    }
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorCode::PayloadTooLarge,
        format!("The file exceeds the limit of {limit} bytes for this upload."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::MediaType;

    const B: &str = "----formBoundary7MA4";

    fn body(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.extend_from_slice(
                format!(
                    "--{B}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((filename, content_type, bytes)) = file {
            out.extend_from_slice(
                format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes(),
            );
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        out
    }

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={B}")).unwrap(),
            B
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert_eq!(
            boundary("application/json").unwrap_err().code,
            ErrorCode::UnsupportedType
        );
        assert!(boundary("multipart/form-data").is_err());
        assert!(boundary("multipart/form-data; boundary=a\r\nb").is_err());
        // A parameter's quoted value is text, not more parameters.
        assert_eq!(
            boundary("multipart/form-data; charset=\"x;boundary=evil\"; boundary=real").unwrap(),
            "real"
        );
    }

    #[test]
    fn content_disposition_values_are_read_with_their_quotes() {
        let params = |value| {
            disposition_params(value).map(|(d, p)| {
                (
                    d.to_owned(),
                    p.into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect::<Vec<_>>(),
                )
            })
        };
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            params(r#" form-data; name="file"; filename="take;2.mp4""#).unwrap(),
            (
                "form-data".to_owned(),
                pairs(&[("name", "file"), ("filename", "take;2.mp4")])
            )
        );
        assert_eq!(
            params(r#"form-data;name=file ; filename="a=b, c.mp4";"#)
                .unwrap()
                .1,
            pairs(&[("name", "file"), ("filename", "a=b, c.mp4")])
        );
        assert_eq!(params("form-data").unwrap().1, pairs(&[]));
        for malformed in [
            r#"form-data; name="file"; filename="open.mp4"#,
            r#"form-data; name="file"x; filename="a.mp4""#,
            "form-data; name",
        ] {
            assert_eq!(
                params(malformed).unwrap_err().code,
                ErrorCode::InvalidInput,
                "{malformed}"
            );
        }
    }

    #[test]
    fn a_direct_upload_prefix_stops_at_the_file_content() {
        let data = body(
            &[("method", "direct"), ("user_metadata", r#"{"k":"v"}"#)],
            Some(("clip.mp4", "video/mp4", b"0123456789")),
        );
        // Fed one byte at a time, the parser asks for more until the file headers are complete.
        let mut parsed = None;
        for end in 0..=data.len() {
            if let Some(prefix) = parse_prefix(&data[..end], B).unwrap() {
                parsed = Some((end, prefix));
                break;
            }
        }
        let (end, prefix) = parsed.unwrap();
        assert_eq!(&data[prefix.consumed..prefix.consumed + 10], b"0123456789");
        assert_eq!(end, prefix.consumed);
        let form = AssetForm::from_prefix(&prefix).unwrap();
        assert_eq!(form.fields.method, CreateAssetMethod::Direct);
        assert_eq!(form.direct_media(|_| true).unwrap().media, MediaType::Video);
        assert_eq!(form.fields.user_metadata.unwrap()["k"], "v".into());
    }

    #[test]
    fn a_url_form_is_parsed_whole() {
        let data = body(
            &[
                ("method", "url"),
                ("url", "https://example.com/v.mp4"),
                ("enable_hls", "TRUE"),
            ],
            None,
        );
        let prefix = parse_prefix(&data, B).unwrap().unwrap();
        assert_eq!(prefix.file, None);
        let form = AssetForm::from_prefix(&prefix).unwrap();
        assert_eq!(
            form.fields.url.as_deref(),
            Some("https://example.com/v.mp4")
        );
        assert_eq!(form.fields.enable_hls, Some(true));
        assert!(parse_prefix(&data[..data.len() - 4], B).unwrap().is_none());
    }

    #[test]
    fn bad_forms_are_refused_with_clear_errors() {
        let mut cases: Vec<Vec<u8>> = vec![
            body(&[("method", "direct"), ("colour", "red")], None),
            body(&[("method", "url"), ("method", "url")], None),
            body(&[("method", "direct")], None),
            body(&[("method", "url")], None),
            body(
                &[("method", "url"), ("url", "https://e.com/v")],
                Some(("a", "video/mp4", b"x")),
            ),
            body(&[("method", "ftp")], None),
            body(&[("url", "https://e.com/v")], None),
            body(
                &[
                    ("method", "url"),
                    ("url", "https://e.com/v"),
                    ("enable_hls", "1"),
                ],
                None,
            ),
            body(
                &[
                    ("method", "url"),
                    ("url", "https://e.com/v"),
                    ("user_metadata", "[1]"),
                ],
                None,
            ),
            body(
                &[
                    ("method", "url"),
                    ("url", "https://e.com/v"),
                    ("filename", ""),
                ],
                None,
            ),
        ];
        let long_name = format!("{}.mp4", "a".repeat(10_000));
        for name in [
            long_name.as_str(),
            "clip\u{7}.mp4",
            "clip\u{1b}.mp4",
            "clip\u{7f}.mp4",
            "",
        ] {
            cases.push(body(
                &[("method", "direct")],
                Some((name, "video/mp4", b"x")),
            ));
        }
        for data in cases {
            let result = parse_prefix(&data, B).and_then(|p| AssetForm::from_prefix(&p.unwrap()));
            assert_eq!(
                result.unwrap_err().code,
                ErrorCode::InvalidInput,
                "{}",
                String::from_utf8_lossy(&data)
            );
        }
        for (metadata, message) in [
            (
                r#"{"k":{"a":1}}"#,
                "`user_metadata.k` must be a string, number or boolean.",
            ),
            ("{", "The `user_metadata` parameter must be a JSON object."),
        ] {
            let data = body(
                &[
                    ("method", "url"),
                    ("url", "https://e.com/v"),
                    ("user_metadata", metadata),
                ],
                None,
            );
            let result = parse_prefix(&data, B).and_then(|p| AssetForm::from_prefix(&p.unwrap()));
            assert_eq!(result.unwrap_err().message, message, "{metadata}");
        }
        assert!(parse_prefix(b"garbage that is long enough", B).is_err());
        let endless = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"url\"\r\n\r\n{}",
            "x".repeat(MAX_PREFIX_BYTES)
        );
        assert!(parse_prefix(endless.as_bytes(), B).is_err());
    }

    #[test]
    fn a_rebuilt_prefix_parses_back_to_the_same_form() {
        let data = body(
            &[("method", "direct"), ("filename", "f.mp3")],
            Some(("f.mp3", "audio/mpeg", b"abc")),
        );
        let prefix = parse_prefix(&data, B).unwrap().unwrap();
        let form = AssetForm::from_prefix(&prefix).unwrap();
        let metadata = crate::worker::policy::with_owner(None, "user-1");
        let rebuilt = build_prefix(B, &form.upstream_fields(metadata), form.file.as_ref()).unwrap();
        let mut whole = rebuilt.clone();
        whole.extend_from_slice(&data[prefix.consumed..]);
        let again = parse_prefix(&whole, B).unwrap().unwrap();
        let form_again = AssetForm::from_prefix(&again).unwrap();
        assert_eq!(
            form_again.fields.user_metadata.unwrap()[crate::worker::policy::OWNER_METADATA_KEY],
            "user-1".into()
        );
        assert_eq!(&whole[again.consumed..again.consumed + 3], b"abc");
        assert!(build_prefix(B, &[("filename", format!("x{B}"))], None).is_err());
    }

    /// The file's size, after checking that the bytes passed on are exactly the bytes pushed.
    fn run_tail(tail_bytes: &[u8], limit: u64, chunk: usize) -> Result<u64, Error> {
        let mut tail = FileTail::new(B, limit);
        let mut passed = Vec::new();
        for piece in tail_bytes.chunks(chunk) {
            passed.extend(tail.push(piece)?);
        }
        let (size, held) = tail.finish()?;
        passed.extend(held);
        assert_eq!(passed, tail_bytes);
        Ok(size)
    }

    #[test]
    fn the_closing_boundary_is_held_back_until_the_body_ends() {
        let closing = format!("\r\n--{B}--\r\n");
        let mut body = vec![7u8; 100];
        body.extend_from_slice(closing.as_bytes());
        for chunk in [1, 3, 64, 1000] {
            let mut tail = FileTail::new(B, 1000);
            let mut passed = Vec::new();
            for piece in body.chunks(chunk) {
                passed.extend(tail.push(piece).unwrap());
            }
            assert_eq!(passed, body[..body.len() - closing.len()], "chunk {chunk}");
            assert_eq!(
                tail.finish().unwrap().1,
                closing.as_bytes(),
                "chunk {chunk}"
            );
        }
        // An epilogue is refused before the closing boundary has been passed on.
        let mut tail = FileTail::new(B, 1000);
        let passed = tail.push(&body).unwrap();
        assert!(!passed.ends_with(closing.as_bytes()));
        assert!(tail.push(b"epilogue").is_err());
    }

    /// What a whole tail (the bytes after the file part's headers) must give: the content's
    /// size when it is `content`, the closing delimiter, `--` and at most a line break; else
    /// a refusal. Read on the whole body at once, as the streaming `FileTail` may not.
    fn expected_tail(tail: &[u8], limit: u64) -> Option<u64> {
        let delimiter = format!("\r\n--{B}");
        let at = find(tail, delimiter.as_bytes())?;
        let after = &tail[at + delimiter.len()..];
        let well_ended = after == b"--" || after == b"--\r" || after == b"--\r\n";
        (well_ended && at as u64 <= limit).then_some(at as u64)
    }

    #[test]
    fn the_file_tail_agrees_with_a_whole_body_reading_for_any_chunking() {
        // A small linear congruential generator: varied cases, the same in every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % bound
        };
        let endings: [&[u8]; 7] = [b"--\r\n", b"--", b"--\r", b"--\r\nx", b"-x", b"\r\n", b""];
        for case in 0..600 {
            let mut tail: Vec<u8> = (0..next(300)).map(|_| b"\r\n-ab"[next(5)]).collect();
            tail.extend_from_slice(format!("\r\n--{B}").as_bytes());
            tail.extend_from_slice(endings[next(endings.len())]);
            let limit = next(320) as u64;
            let mut pushed = FileTail::new(B, limit);
            let mut passed = Vec::new();
            let mut at = 0;
            let outcome = loop {
                if at == tail.len() {
                    break pushed.finish().map(|(size, held)| {
                        passed.extend(held);
                        size
                    });
                }
                let end = (at + 1 + next(40)).min(tail.len());
                match pushed.push(&tail[at..end]) {
                    Ok(ready) => passed.extend(ready),
                    Err(error) => break Err(error),
                }
                at = end;
            };
            assert_eq!(
                outcome.as_ref().ok().copied(),
                expected_tail(&tail, limit),
                "case {case}: {:?}",
                String::from_utf8_lossy(&tail)
            );
            if outcome.is_ok() {
                assert_eq!(passed, tail, "case {case}");
            }
        }
    }

    #[test]
    fn the_file_tail_counts_content_exactly_across_any_chunking() {
        let content: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let mut tail_bytes = content.clone();
        tail_bytes.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
        for chunk in [1, 2, 7, 25, 1000] {
            assert_eq!(run_tail(&tail_bytes, 300, chunk).unwrap(), 300);
            assert_eq!(
                run_tail(&tail_bytes, 299, chunk).unwrap_err().code,
                ErrorCode::PayloadTooLarge,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn the_file_tail_refuses_parts_after_the_file_and_truncated_bodies() {
        let mut smuggled = b"data".to_vec();
        smuggled.extend_from_slice(
            format!("\r\n--{B}\r\nContent-Disposition: form-data; name=\"user_metadata\"\r\n\r\n{{}}\r\n--{B}--\r\n").as_bytes(),
        );
        assert_eq!(
            run_tail(&smuggled, 100, 3).unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert!(run_tail(b"data without an end", 100, 4).is_err());
        let mut long_epilogue = format!("x\r\n--{B}--").into_bytes();
        long_epilogue.extend(std::iter::repeat_n(b'e', 2000));
        assert!(run_tail(&long_epilogue, 100, 64).is_err());
    }

    #[test]
    fn only_a_line_break_may_follow_the_closing_boundary() {
        for ending in ["--", "--\r\n"] {
            let tail_bytes = format!("data\r\n--{B}{ending}");
            for chunk in [1, 3, 1000] {
                assert_eq!(run_tail(tail_bytes.as_bytes(), 100, chunk).unwrap(), 4);
            }
        }
        let smuggled_part = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"user_metadata\"\r\n\r\n{{\"edge_upload_owner\":\"victim\"}}\r\n--{B}--\r\n"
        );
        for epilogue in ["x", "\n", "\r\r", "\r\n\r\n", " ", smuggled_part.as_str()] {
            let tail_bytes = format!("data\r\n--{B}--{epilogue}");
            for chunk in [1, 3, 1000] {
                assert_eq!(
                    run_tail(tail_bytes.as_bytes(), 100, chunk)
                        .unwrap_err()
                        .code,
                    ErrorCode::InvalidInput,
                    "{epilogue:?} in chunks of {chunk}"
                );
            }
        }
    }

    #[test]
    fn a_boundary_a_token_cannot_hold_is_quoted_in_the_content_type() {
        assert_eq!(
            content_type(B),
            format!("multipart/form-data; boundary={B}")
        );
        for boundary in ["a b", "x=y", "a:b/c?d", "(p),q"] {
            let rebuilt = content_type(boundary);
            assert_eq!(
                rebuilt,
                format!("multipart/form-data; boundary=\"{boundary}\"")
            );
            assert_eq!(self::boundary(&rebuilt).unwrap(), boundary);
        }
    }
}
