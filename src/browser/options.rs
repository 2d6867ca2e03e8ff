//! Reading the JS option objects into Rust values, with a clear `invalid_input` error that
//! names the option whenever a value has the wrong type or range.

use std::cell::{Cell, RefCell};

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortSignal;

use super::wire_js::metadata_value;
use crate::core::error::Error;
use crate::core::wire::{MediaType, UserMetadata};

/// What a refused option should have been.
#[derive(Clone, Copy)]
enum Expected {
    /// `"{owner}.{option} must be {0}"`.
    Kind(&'static str),
    /// `"{owner}.{option} must be an integer from {0} to {1}"`.
    Range(u64, u64),
    /// `"{owner}.{option} must be a string of {0} to {1} characters"`.
    Length(u64, u64),
    /// A message of its own.
    Message(&'static str),
    /// `"{owner} has no option `{0}`"`: a name no reader asked for (a misspelt option).
    Unknown,
}

/// Reads properties of one options object, naming it in errors (`"UploaderOptions.concurrency"`).
///
/// The first option found missing or malformed is remembered, and no property is read after it;
/// the readers answer `None` from then on, and [`OptionReader::finish`] turns it into the
/// error. A caller reads every option in order and asks once, instead of returning early (with
/// the drops of what it read so far) after each option. `finish` also refuses a property no
/// reader asked for, so that a misspelt option (`concurrencyy`) fails at once instead of being
/// ignored; one whose value is `undefined` says nothing and passes.
pub struct OptionReader<'a> {
    object: &'a JsValue,
    owner: &'static str,
    refused: Cell<Option<(&'static str, Expected)>>,
    /// The option names read so far.
    known: RefCell<Vec<&'static str>>,
    /// The first property no reader asked for, once `finish` looked.
    unknown: RefCell<Option<String>>,
}

impl<'a> OptionReader<'a> {
    /// Wraps `object`; `undefined`/`null` read as an empty object, anything else that is not an
    /// object is refused.
    pub fn new(object: &'a JsValue, owner: &'static str) -> Self {
        let reader = OptionReader {
            object,
            owner,
            refused: Cell::new(None),
            known: RefCell::new(Vec::new()),
            unknown: RefCell::new(None),
        };
        if !object.is_undefined() && !object.is_null() && !object.is_object() {
            reader.refused.set(Some(("", Expected::Kind("an object"))));
        }
        reader
    }

    /// `Err` with the first refused option, if any was, else with the first property no reader
    /// asked for.
    #[inline(never)]
    pub fn finish(&self) -> Result<(), Error> {
        if self.refused.get().is_none() && self.object.is_object() {
            let known = self.known.borrow();
            let object: &js_sys::Object = self.object.unchecked_ref();
            for key in js_sys::Object::keys(object).iter() {
                let Some(key) = key.as_string() else { continue };
                if !known.contains(&key.as_str())
                    && Reflect::get(self.object, &JsValue::from_str(&key))
                        .is_ok_and(|v| !v.is_undefined())
                {
                    *self.unknown.borrow_mut() = Some(key);
                    self.refused.set(Some(("", Expected::Unknown)));
                    break;
                }
            }
        }
        let Some((name, expected)) = self.refused.get() else {
            return Ok(());
        };
        let owner = self.owner;
        let dot = if name.is_empty() { "" } else { "." };
        Err(Error::invalid(match expected {
            Expected::Kind(kind) => format!("{owner}{dot}{name} must be {kind}"),
            Expected::Range(min, max) => {
                format!("{owner}{dot}{name} must be an integer from {min} to {max}")
            }
            Expected::Length(min, max) => {
                format!("{owner}{dot}{name} must be a string of {min} to {max} characters")
            }
            Expected::Message(message) => message.to_owned(),
            Expected::Unknown => {
                let key = self.unknown.borrow();
                format!(
                    "{owner} has no option `{}`",
                    key.as_deref().unwrap_or_default()
                )
            }
        }))
    }

    /// Refuses the options with `message` (unless an option was refused before).
    pub fn refuse(&self, message: &'static str) {
        self.fail("", Expected::Message(message));
    }

    #[inline(never)]
    fn fail(&self, name: &'static str, expected: Expected) {
        if self.refused.get().is_none() {
            self.refused.set(Some((name, expected)));
        }
    }

    #[inline(never)]
    fn raw(&self, name: &'static str) -> Option<JsValue> {
        self.known.borrow_mut().push(name);
        if self.object.is_undefined() || self.object.is_null() || self.refused.get().is_some() {
            return None;
        }
        Reflect::get(self.object, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    /// `read`'s answer for the option `name`, if present; refused as not `expected` when `read`
    /// answers `None`.
    fn read<T>(
        &self,
        name: &'static str,
        expected: &'static str,
        read: impl FnOnce(JsValue) -> Option<T>,
    ) -> Option<T> {
        let value = read(self.raw(name)?);
        if value.is_none() {
            self.fail(name, Expected::Kind(expected));
        }
        value
    }

    /// An optional string.
    #[inline(never)]
    pub fn string(&self, name: &'static str) -> Option<String> {
        self.read(name, "a string", |v| v.as_string())
    }

    /// An optional string of `min..=max` characters (one of `core::engine::option_limits`).
    pub fn string_of_length(&self, name: &'static str, (min, max): (u64, u64)) -> Option<String> {
        let string = self.raw(name)?.as_string();
        let chars = string.as_deref().map_or(0, |s| s.chars().count() as u64);
        match string {
            Some(string) if (min..=max).contains(&chars) => Some(string),
            _ => {
                self.fail(name, Expected::Length(min, max));
                None
            }
        }
    }

    /// An optional boolean.
    #[inline(never)]
    pub fn bool(&self, name: &'static str) -> Option<bool> {
        self.read(name, "a boolean", |v| v.as_bool())
    }

    /// An optional integer within the inclusive range `(min, max)` (one of
    /// `core::engine::option_limits`).
    pub fn integer_in(&self, name: &'static str, (min, max): (u64, u64)) -> Option<u64> {
        self.integer(name, min, max)
    }

    /// An optional integer within `min..=max`.
    #[inline(never)]
    pub fn integer(&self, name: &'static str, min: u64, max: u64) -> Option<u64> {
        let number = self.raw(name)?.as_f64();
        match number {
            // In range and integral, so the conversion is exact.
            Some(n) if n.fract() == 0.0 && n >= min as f64 && n <= max as f64 => Some(n as u64),
            _ => {
                self.fail(name, Expected::Range(min, max));
                None
            }
        }
    }

    /// An optional function.
    #[inline(never)]
    pub fn function(&self, name: &'static str) -> Option<Function> {
        self.read(name, "a function", |v| v.dyn_into::<Function>().ok())
    }

    /// An optional `AbortSignal`.
    #[inline(never)]
    pub fn signal(&self, name: &'static str) -> Option<AbortSignal> {
        self.read(name, "an AbortSignal", |v| v.dyn_into::<AbortSignal>().ok())
    }

    /// An optional nested object (returned as is, for its own reader).
    #[inline(never)]
    pub fn object(&self, name: &'static str) -> Option<JsValue> {
        self.read(name, "an object", |v| v.is_object().then_some(v))
    }

    /// An optional media type (`"video" | "audio" | "image"`).
    #[inline(never)]
    pub fn media_type(&self, name: &'static str) -> Option<MediaType> {
        let text = self.string(name)?;
        let media_type = MediaType::parse(&text);
        if media_type.is_none() {
            self.fail(name, Expected::Kind(r#""video", "audio" or "image""#));
        }
        media_type
    }

    /// An optional array of strings.
    #[inline(never)]
    pub fn strings(&self, name: &'static str) -> Option<Vec<String>> {
        self.read(name, "an array of strings", |value| {
            if !js_sys::Array::is_array(&value) {
                return None;
            }
            let items: js_sys::Array = value.unchecked_into();
            let mut strings = Vec::with_capacity(items.length() as usize);
            for item in items.iter() {
                strings.push(item.as_string()?);
            }
            Some(strings)
        })
    }

    /// Optional user metadata: a plain object with string, number or boolean values.
    #[inline(never)]
    pub fn user_metadata(&self, name: &'static str) -> Option<UserMetadata> {
        let value = self.object(name)?;
        let expected = "an object with string, number or boolean values";
        // Only a plain object: an array's or a typed array's keys are its indexes (`[1, 2]`
        // would be stored as `{"0": 1, "1": 2}`), and a `Map`'s or a `Date`'s entries are not
        // own properties (stored as `{}`). Plain: its prototype is a realm's `Object.prototype`
        // (or `null`).
        let prototype = js_sys::Object::get_prototype_of(&value);
        if !(prototype.is_null() || js_sys::Object::get_prototype_of(&prototype).is_null()) {
            self.fail(name, Expected::Kind(expected));
            return None;
        }
        let mut metadata = UserMetadata::new();
        for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let key = pair.get(0).as_string().unwrap_or_default();
            let Some(json) = metadata_value(&pair.get(1)) else {
                self.fail(name, Expected::Kind(expected));
                return None;
            };
            metadata.insert(key, json);
        }
        Some(metadata)
    }
}
