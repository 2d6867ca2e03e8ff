//! Reading one parsed JSON object field by field ([`Fields`]), for the readers in [`super`].

use std::cell::Cell;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::wire::UploadHeaders;

/// Why a value could not be read: the name of the first missing or malformed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

pub(super) type Read<T> = Result<T, Unreadable>;

/// The largest integer a JS number holds exactly (2^53).
pub(super) const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// Reads the fields of one parsed JSON object. `null` counts as absent, as the API omits
/// optional fields and may spell an absent one `null`.
///
/// A field that is missing or malformed is remembered (the first one only) and read as a
/// placeholder, and [`Fields::finish`] reports it: a reader is then one straight sequence of
/// reads with one error exit, instead of an early return (and the drops of the fields read so
/// far) after every field, which was most of the readers' code.
pub(super) struct Fields<'a> {
    value: &'a JsValue,
    unreadable: Cell<Option<&'static str>>,
}

impl<'a> Fields<'a> {
    pub(super) fn new(value: &'a JsValue) -> Self {
        Fields {
            value,
            unreadable: Cell::new(None),
        }
    }

    /// Remembers `key` as the unreadable field, unless an earlier one was.
    #[inline(never)]
    pub(super) fn fail(&self, key: &'static str) {
        if self.unreadable.get().is_none() {
            self.unreadable.set(Some(key));
        }
    }

    /// `value` when every field read so far was readable; otherwise the first unreadable one.
    pub(super) fn finish<T>(&self, value: T) -> Read<T> {
        match self.unreadable.get() {
            None => Ok(value),
            Some(key) => Err(Unreadable(key)),
        }
    }

    /// Keeps `read`'s value, or remembers its unreadable field.
    pub(super) fn keep<T>(&self, read: Read<T>) -> Option<T> {
        read.map_err(|Unreadable(key)| self.fail(key)).ok()
    }

    #[inline(never)]
    pub(super) fn get(&self, key: &'static str) -> Option<JsValue> {
        if !self.value.is_object() {
            return None;
        }
        Reflect::get(self.value, &JsValue::from_str(key))
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
    }

    #[inline(never)]
    pub(super) fn opt_string(&self, key: &'static str) -> Option<String> {
        let value = self.get(key)?;
        let text = value.as_string();
        if text.is_none() {
            self.fail(key);
        }
        text
    }

    #[inline(never)]
    pub(super) fn string(&self, key: &'static str) -> String {
        self.opt_string(key).unwrap_or_else(|| {
            self.fail(key);
            String::new()
        })
    }

    #[inline(never)]
    pub(super) fn opt_number(&self, key: &'static str) -> Option<f64> {
        let value = self.get(key)?;
        let number = value.as_f64();
        if number.is_none() {
            self.fail(key);
        }
        number
    }

    /// A boolean that is `false` when absent.
    pub(super) fn flag(&self, key: &'static str) -> bool {
        let value = self.get(key).map(|v| v.as_bool());
        if value == Some(None) {
            self.fail(key);
        }
        value.flatten().unwrap_or(false)
    }

    pub(super) fn number(&self, key: &'static str) -> f64 {
        self.opt_number(key).unwrap_or_else(|| {
            self.fail(key);
            0.0
        })
    }

    /// A non-negative integer no larger than `max`.
    #[inline(never)]
    pub(super) fn opt_whole(&self, key: &'static str, max: f64) -> Option<u64> {
        let n = self.opt_number(key)?;
        if n >= 0.0 && n <= max && n.fract() == 0.0 {
            Some(n as u64)
        } else {
            self.fail(key);
            None
        }
    }

    /// A non-negative integer no larger than `max`, required.
    #[inline(never)]
    pub(super) fn whole(&self, key: &'static str, max: f64) -> u64 {
        self.opt_whole(key, max).unwrap_or_else(|| {
            self.fail(key);
            0
        })
    }

    pub(super) fn u64(&self, key: &'static str) -> u64 {
        self.whole(key, MAX_EXACT)
    }

    pub(super) fn u32(&self, key: &'static str) -> u32 {
        self.whole(key, f64::from(u32::MAX)) as u32
    }

    /// A `u32` that defaults to 0 when absent (`#[serde(default)]`).
    pub(super) fn u32_or_zero(&self, key: &'static str) -> u32 {
        self.opt_whole(key, f64::from(u32::MAX)).unwrap_or(0) as u32
    }

    /// The items of an array field; absent reads as empty (`#[serde(default)]`).
    #[inline(never)]
    pub(super) fn array(&self, key: &'static str) -> Array {
        match self.get(key) {
            Some(v) if Array::is_array(&v) => v.unchecked_into(),
            Some(_) => {
                self.fail(key);
                Array::new()
            }
            None => Array::new(),
        }
    }

    pub(super) fn list<T>(&self, key: &'static str, read: fn(&JsValue) -> Read<T>) -> Vec<T> {
        let items = self.array(key);
        let mut list = Vec::with_capacity(items.length() as usize);
        for item in items.iter() {
            if let Some(value) = self.keep(read(&item)) {
                list.push(value);
            }
        }
        list
    }

    /// An object field, if present.
    #[inline(never)]
    pub(super) fn object(&self, key: &'static str) -> Option<JsValue> {
        let value = self.get(key)?;
        if value.is_object() && !Array::is_array(&value) {
            Some(value)
        } else {
            self.fail(key);
            None
        }
    }

    pub(super) fn opt<T>(&self, key: &'static str, read: fn(&JsValue) -> Read<T>) -> Option<T> {
        self.keep(read(&self.object(key)?))
    }

    /// An enum spelled as a string, read with its core spelling table (`parse`: unknown
    /// spellings are `Unknown`).
    pub(super) fn spelled<T>(&self, key: &'static str, parse: fn(&str) -> T) -> T {
        parse(&self.string(key))
    }

    /// A string map (`upload_headers`); absent reads as empty.
    pub(super) fn string_map(&self, key: &'static str) -> UploadHeaders {
        let mut map = UploadHeaders::new();
        if let Some(object) = self.object(key) {
            for (name, value) in entries(&object) {
                match value.as_string() {
                    Some(value) => {
                        map.insert(name, value);
                    }
                    None => self.fail(key),
                }
            }
        }
        map
    }
}

/// The own enumerable `(key, value)` pairs of an object.
pub(super) fn entries(object: &JsValue) -> impl Iterator<Item = (String, JsValue)> {
    Object::entries(object.unchecked_ref())
        .into_iter()
        .map(|pair| {
            let pair: Array = pair.unchecked_into();
            (pair.get(0).as_string().unwrap_or_default(), pair.get(1))
        })
}
