//! Reading the JS option objects into Rust values, with a clear `invalid_input` error that
//! names the option whenever a value has the wrong type or range.

use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::AbortSignal;

use super::wire_js::metadata_value;
use crate::core::error::Error;
use crate::core::wire::{MediaType, UserMetadata};

/// Reads properties of one options object, naming it in errors (`"UploaderOptions.concurrency"`).
pub struct OptionReader<'a> {
    object: &'a JsValue,
    owner: &'static str,
}

impl<'a> OptionReader<'a> {
    /// Wraps `object`; `undefined`/`null` read as an empty object, anything else that is not an
    /// object is refused.
    pub fn new(object: &'a JsValue, owner: &'static str) -> Result<Self, Error> {
        if !object.is_undefined() && !object.is_null() && !object.is_object() {
            return Err(Error::invalid(format!("{owner} must be an object")));
        }
        Ok(OptionReader { object, owner })
    }

    fn raw(&self, name: &str) -> Option<JsValue> {
        if self.object.is_undefined() || self.object.is_null() {
            return None;
        }
        Reflect::get(self.object, &JsValue::from_str(name))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    fn wrong(&self, name: &str, expected: &str) -> Error {
        Error::invalid(format!("{}.{name} must be {expected}", self.owner))
    }

    /// An optional string.
    pub fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.raw(name)
            .map(|v| v.as_string().ok_or_else(|| self.wrong(name, "a string")))
            .transpose()
    }

    /// An optional boolean.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        self.raw(name)
            .map(|v| v.as_bool().ok_or_else(|| self.wrong(name, "a boolean")))
            .transpose()
    }

    /// An optional integer within the inclusive range `(min, max)` (one of
    /// `core::engine::option_limits`).
    pub fn integer_in(&self, name: &str, (min, max): (u64, u64)) -> Result<Option<u64>, Error> {
        self.integer(name, min, max)
    }

    /// An optional integer within `min..=max`.
    pub fn integer(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
        let Some(value) = self.raw(name) else {
            return Ok(None);
        };
        let expected = format!("an integer from {min} to {max}");
        let number = value.as_f64().ok_or_else(|| self.wrong(name, &expected))?;
        if number.fract() != 0.0 || number < min as f64 || number > max as f64 {
            return Err(self.wrong(name, &expected));
        }
        // In range and integral, so the conversion is exact.
        Ok(Some(number as u64))
    }

    /// An optional function.
    pub fn function(&self, name: &str) -> Result<Option<Function>, Error> {
        self.raw(name)
            .map(|v| {
                v.dyn_into::<Function>()
                    .map_err(|_| self.wrong(name, "a function"))
            })
            .transpose()
    }

    /// An optional `AbortSignal`.
    pub fn signal(&self, name: &str) -> Result<Option<AbortSignal>, Error> {
        self.raw(name)
            .map(|v| {
                v.dyn_into::<AbortSignal>()
                    .map_err(|_| self.wrong(name, "an AbortSignal"))
            })
            .transpose()
    }

    /// An optional nested object (returned as is, for its own reader).
    pub fn object(&self, name: &str) -> Result<Option<JsValue>, Error> {
        self.raw(name)
            .map(|v| {
                if v.is_object() {
                    Ok(v)
                } else {
                    Err(self.wrong(name, "an object"))
                }
            })
            .transpose()
    }

    /// An optional media type (`"video" | "audio" | "image"`).
    pub fn media_type(&self, name: &str) -> Result<Option<MediaType>, Error> {
        self.string(name)?
            .map(|s| {
                MediaType::parse(&s)
                    .ok_or_else(|| self.wrong(name, r#""video", "audio" or "image""#))
            })
            .transpose()
    }

    /// An optional array of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(value) = self.raw(name) else {
            return Ok(None);
        };
        if !js_sys::Array::is_array(&value) {
            return Err(self.wrong(name, "an array of strings"));
        }
        js_sys::Array::from(&value)
            .iter()
            .map(|item| {
                item.as_string()
                    .ok_or_else(|| self.wrong(name, "an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Optional user metadata: a plain object with string, number or boolean values.
    pub fn user_metadata(&self, name: &str) -> Result<Option<UserMetadata>, Error> {
        let Some(value) = self.object(name)? else {
            return Ok(None);
        };
        let expected = "an object with string, number or boolean values";
        let mut metadata = UserMetadata::new();
        for entry in js_sys::Object::entries(value.unchecked_ref()).iter() {
            let pair = js_sys::Array::from(&entry);
            let key = pair.get(0).as_string().unwrap_or_default();
            let json = metadata_value(&pair.get(1)).ok_or_else(|| self.wrong(name, expected))?;
            metadata.insert(key, json);
        }
        Ok(Some(metadata))
    }
}
