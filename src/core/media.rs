//! The media type of a direct upload's file, decided once and strictly.
//!
//! TwelveLabs decides what it stores (video, audio or image) from the file part's
//! `Content-Type` and, where that says little, from the file name's extension. So the part's
//! type is parsed as a MIME type (type, subtype, parameters: the `mime` crate, which refuses
//! `image`, `image/png garbage` or `Image/Png;;`), its top-level type must be `video`, `audio`
//! or `image`, and no file name sent along may carry an extension of another media type (a
//! container of audio or video passes as either when both may be stored: [`check_name`]). What
//! goes upstream is the parsed essence (`image/png`, lower case, no parameters), so the type
//! TwelveLabs reads is the one that was checked.

use std::str::FromStr as _;

use crate::core::error::{Error, ErrorCode};
use crate::core::wire::MediaType;

/// A file part's checked media: its media type and the MIME essence to send upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMedia {
    /// `video`, `audio` or `image`.
    pub media: MediaType,
    /// `type/subtype`, lower case, without parameters.
    pub essence: String,
}

/// Parses a file part's `Content-Type` strictly and checks that every name in `filenames`
/// agrees with it ([`check_name`], with the media types the upload may be stored as: `allowed`).
pub fn file_media(
    content_type: &str,
    filenames: &[&str],
    allowed: impl Fn(MediaType) -> bool,
) -> Result<FileMedia, Error> {
    let unsupported = |why: String| Err(Error::new(ErrorCode::UnsupportedType, why));
    let Ok(parsed) = mime::Mime::from_str(content_type) else {
        return unsupported(format!(
            "The file part's Content-Type `{}` is not a MIME type (type/subtype; parameters).",
            printable(content_type)
        ));
    };
    if parsed.subtype().as_str().is_empty() {
        return unsupported(format!(
            "The file part's Content-Type `{}` has no subtype.",
            printable(content_type)
        ));
    }
    let Some(media) = MediaType::parse(parsed.type_().as_str()) else {
        return unsupported(format!(
            "The file part's Content-Type `{}` is not video/*, audio/* or image/*.",
            parsed.essence_str()
        ));
    };
    for name in filenames {
        check_name(media, name, &allowed)?;
    }
    Ok(FileMedia {
        media,
        essence: parsed.essence_str().to_owned(),
    })
}

/// Checks that the file name `name` agrees with the media type `media` it is uploaded as: a name
/// whose extension belongs to another media type is refused, since TwelveLabs may store the file
/// as what its name says, whatever type it was sent as (so a grant's `types` would not hold). A
/// name with no extension, or an extension not in the table, says nothing and passes. The name
/// of a container that holds audio as often as video ([`AUDIO_OR_VIDEO_CONTAINERS`]: a voice
/// note recorded as `.webm`) passes as audio or video when the media type it is listed under is
/// `allowed` too: whichever of the two TwelveLabs stores, the upload may be it.
pub fn check_name(
    media: MediaType,
    name: &str,
    allowed: impl Fn(MediaType) -> bool,
) -> Result<(), Error> {
    let Some(extension) = extension_of(name) else {
        return Ok(());
    };
    let Some(named) = media_of(&extension) else {
        return Ok(());
    };
    let audio_or_video = media != MediaType::Image
        && AUDIO_OR_VIDEO_CONTAINERS.contains(&extension.as_str())
        && allowed(named);
    if named == media || audio_or_video {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::UnsupportedType,
        format!(
            "The file is uploaded as {}, but its name `{}` says {}.",
            media.as_str(),
            printable(name),
            named.as_str()
        ),
    ))
}

/// A file name's extension, lower case, read past trailing dots and white space: file systems
/// and stores that drop them (Windows does) would store `clip.mp4.` as `clip.mp4`.
fn extension_of(filename: &str) -> Option<String> {
    let trimmed = filename.trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    Some(trimmed.rsplit_once('.')?.1.to_ascii_lowercase())
}

/// The media type a file name's extension stands for, if it is a known media extension.
pub fn media_of_extension(filename: &str) -> Option<MediaType> {
    media_of(&extension_of(filename)?)
}

/// The media type a lower-case extension stands for, if it is a known media extension.
fn media_of(extension: &str) -> Option<MediaType> {
    let is = |list: &[&str]| list.contains(&extension);
    if is(VIDEO_EXTENSIONS) {
        Some(MediaType::Video)
    } else if is(AUDIO_EXTENSIONS) {
        Some(MediaType::Audio)
    } else if is(IMAGE_EXTENSIONS) {
        Some(MediaType::Image)
    } else {
        None
    }
}

const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "qt", "webm", "mkv", "avi", "wmv", "asf", "flv", "f4v", "mpg", "mpeg",
    "mpe", "m2v", "3gp", "3g2", "ts", "mts", "m2ts", "ogv", "mxf", "vob", "divx",
];
/// Containers recorded with audio alone as often as with video (a voice note from a browser's
/// `MediaRecorder` as `.webm`, a phone's `.3gp`, an audio-only `.mp4`, Ogg Vorbis): their
/// extensions are listed under one media type above and below, but say only "audio or video".
const AUDIO_OR_VIDEO_CONTAINERS: &[&str] = &["mp4", "webm", "3gp", "3g2", "ogg", "asf"];
const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "wav", "wave", "m4a", "aac", "flac", "ogg", "oga", "opus", "wma", "aif", "aiff", "aifc",
    "amr", "mka", "caf", "ac3", "weba", "mid", "midi",
];
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif",
    "avif", "svg", "ico", "jxl",
];

/// A client value for an error message: at most 100 characters, control characters dropped.
fn printable(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every media type may be stored.
    fn any(_: MediaType) -> bool {
        true
    }

    #[test]
    fn types_that_do_not_parse_as_mime_types_are_refused() {
        for bad in [
            "image",
            "image/png garbage",
            "Image/Png;;",
            "image/",
            "/png",
            "image/png; charset",
            "image/png; a=\"unterminated",
            "video/mp4\u{7}",
            "video /mp4",
            "",
            "*/*",
            "application/octet-stream",
            "text/plain",
            "videos/mp4",
        ] {
            let refused = file_media(bad, &["clip.mp4"], any).unwrap_err();
            assert_eq!(refused.code, ErrorCode::UnsupportedType, "{bad:?}");
        }
    }

    #[test]
    fn the_essence_is_what_goes_upstream() {
        let media = file_media("Video/MP4; codecs=\"avc1\"", &["clip.mp4"], any).unwrap();
        assert_eq!(media.media, MediaType::Video);
        assert_eq!(media.essence, "video/mp4");
        assert_eq!(
            file_media("audio/mpeg", &["song.MP3", "song"], any)
                .unwrap()
                .media,
            MediaType::Audio
        );
        assert_eq!(
            file_media("image/png", &["scan.png"], any).unwrap().essence,
            "image/png"
        );
        // No extension, or one outside the table, says nothing either way.
        assert!(file_media("video/mp4", &["clip", "clip.bin", ""], any).is_ok());
    }

    #[test]
    fn a_type_and_a_name_that_disagree_are_refused() {
        for (content_type, names) in [
            ("image/png", &["clip.mp4"][..]),
            ("video/mp4", &["photo.JPG"]),
            ("audio/mpeg", &["movie.mkv"]),
            ("image/png", &["ok.png", "clip.mov"]),
            ("video/mp4", &["clip.mp4", "song.mp3"]),
        ] {
            let refused = file_media(content_type, names, any).unwrap_err();
            assert_eq!(
                refused.code,
                ErrorCode::UnsupportedType,
                "{content_type} {names:?}"
            );
        }
    }

    #[test]
    fn containers_of_audio_or_video_pass_as_either_when_both_may_be_stored() {
        for (content_type, name) in [
            ("audio/webm", "voice.webm"),
            ("video/webm", "clip.webm"),
            ("audio/mp4", "song.mp4"),
            ("audio/3gpp", "memo.3gp"),
            ("video/ogg", "film.ogg"),
            ("audio/ogg", "song.ogg"),
        ] {
            assert!(
                file_media(content_type, &[name], any).is_ok(),
                "{content_type} {name}"
            );
        }
        // Only audio may be stored: a `.webm` TwelveLabs may store as video is refused.
        let audio_only = |m: MediaType| m == MediaType::Audio;
        assert_eq!(
            check_name(MediaType::Audio, "voice.webm", audio_only)
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedType
        );
        assert!(check_name(MediaType::Audio, "song.ogg", audio_only).is_ok());
        for (media, name) in [
            (MediaType::Image, "voice.webm"),
            (MediaType::Image, "song.ogg"),
            (MediaType::Image, "clip.mp4."),
            (MediaType::Image, "clip.mp4 "),
            (MediaType::Image, "clip.MP4 . \t"),
            (MediaType::Audio, "movie.mkv..."),
            (MediaType::Audio, "movie.mkv"),
            (MediaType::Video, "song.mp3"),
        ] {
            assert_eq!(
                check_name(media, name, any).unwrap_err().code,
                ErrorCode::UnsupportedType,
                "{media:?} {name}"
            );
        }
    }

    #[test]
    fn every_extension_belongs_to_one_media_type() {
        for list in [VIDEO_EXTENSIONS, AUDIO_EXTENSIONS, IMAGE_EXTENSIONS] {
            for extension in list {
                let hits = [VIDEO_EXTENSIONS, AUDIO_EXTENSIONS, IMAGE_EXTENSIONS]
                    .iter()
                    .filter(|l| l.contains(extension))
                    .count();
                assert_eq!(hits, 1, "{extension}");
            }
        }
    }
}
