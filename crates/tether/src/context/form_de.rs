//! Form and query data to typed values, with Gin's rules: a scalar field takes the first of
//! repeated keys (`?id=1&id=2` gives `id = 1`), a sequence takes them all, and a blank
//! value of an `Option` field is `None` (`?age=` leaves `age: Option<u32>` empty).
//!
//! serde_html_form refuses repeated keys for a scalar and keeps a blank `Option<String>`
//! as `Some("")`; Gin users expect neither, so the pairs are grouped here and handed to
//! serde through this deserializer.

use std::borrow::Cow;

use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, Error as _, IntoDeserializer, Visitor};

/// Deserializes `T` from name–value pairs, grouped by name in order of first appearance.
pub(crate) fn from_pairs<'a, T, I>(pairs: I) -> Result<T, serde_path_to_error::Error<Error>>
where
    T: de::DeserializeOwned,
    I: IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
{
    // Indexed by name: a form of a hundred thousand distinct keys (a 2 MiB body) must not
    // cost a hundred thousand squared comparisons.
    let mut grouped: Vec<(Cow<'a, str>, Values<'a>)> = Vec::new();
    let mut index: rustc_hash::FxHashMap<Cow<'a, str>, usize> = Default::default();
    for (name, value) in pairs {
        match index.get(&name) {
            Some(&i) => grouped[i].1 .0.push(value),
            None => {
                index.insert(name.clone(), grouped.len());
                grouped.push((name, Values(vec![value])));
            }
        }
    }
    let map = MapDeserializer::new(grouped.into_iter().map(|(n, v)| (Name(n), v)));
    serde_path_to_error::deserialize(map)
}

/// A field name.
struct Name<'a>(Cow<'a, str>);

impl<'de, 'a> IntoDeserializer<'de, Error> for Name<'a> {
    type Deserializer = serde::de::value::StringDeserializer<Error>;

    fn into_deserializer(self) -> Self::Deserializer {
        self.0.into_owned().into_deserializer()
    }
}

/// The values given for one name, in order.
struct Values<'a>(Vec<Cow<'a, str>>);

impl<'de, 'a> IntoDeserializer<'de, Error> for Values<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl Values<'_> {
    fn first(&self) -> &str {
        self.0.first().map_or("", |v| v)
    }

    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, Error> {
        let text = self.first();
        text.trim().parse().map_err(|_| Error::custom(format_args!("invalid {what}: {text:?}")))
    }
}

macro_rules! parse_as {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(self.parse::<$ty>($what)?)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Values<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_string(self.first().to_owned())
    }

    parse_as! {
        deserialize_bool visit_bool bool, "boolean (true or false)";
        deserialize_i8 visit_i8 i8, "integer";
        deserialize_i16 visit_i16 i16, "integer";
        deserialize_i32 visit_i32 i32, "integer";
        deserialize_i64 visit_i64 i64, "integer";
        deserialize_i128 visit_i128 i128, "integer";
        deserialize_u8 visit_u8 u8, "unsigned integer";
        deserialize_u16 visit_u16 u16, "unsigned integer";
        deserialize_u32 visit_u32 u32, "unsigned integer";
        deserialize_u64 visit_u64 u64, "unsigned integer";
        deserialize_u128 visit_u128 u128, "unsigned integer";
        deserialize_f32 visit_f32 f32, "number";
        deserialize_f64 visit_f64 f64, "number";
        deserialize_char visit_char char, "character";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.first().trim().is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let one = self.0.into_iter().map(|v| Values(vec![v]));
        visitor.visit_seq(SeqDeserializer::new(one))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.first().to_owned().into_deserializer())
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        str string bytes byte_buf unit_struct tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Search {
        q: String,
        page: Option<u32>,
        lang: Option<String>,
        #[serde(default)]
        tag: Vec<String>,
        exact: Option<bool>,
    }

    fn parse<T: de::DeserializeOwned>(query: &str) -> Result<T, String> {
        let pairs = form_urlencoded::parse(query.as_bytes());
        from_pairs(pairs).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn a_scalar_takes_the_first_of_repeated_keys_and_a_sequence_all() {
        let s: Search = parse("q=a&q=b&tag=x&tag=y&page=2&page=3").unwrap();
        assert_eq!(
            s,
            Search {
                q: "a".into(),
                page: Some(2),
                lang: None,
                tag: vec!["x".into(), "y".into()],
                exact: None
            }
        );
    }

    #[test]
    fn a_blank_optional_value_is_none() {
        let s: Search = parse("q=rust&page=&lang=&exact=").unwrap();
        assert_eq!((s.page, s.lang, s.exact), (None, None, None));
        let s: Search = parse("q=rust&lang=en&exact=true").unwrap();
        assert_eq!((s.lang.as_deref(), s.exact), (Some("en"), Some(true)));
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        assert_eq!(parse::<Search>("q=a&page=two").unwrap_err(), "page: invalid unsigned integer: \"two\"");
        assert_eq!(parse::<Search>("page=1").unwrap_err(), ".: missing field `q`");
    }

    #[test]
    fn many_distinct_keys_are_grouped_in_linear_time() {
        #[derive(serde::Deserialize)]
        struct Q {
            q: String,
        }
        // 200,000 distinct keys: quadratic grouping would take minutes.
        let mut query = String::from("q=x");
        for i in 0..200_000 {
            query.push_str(&format!("&k{i}=v"));
        }
        let started = std::time::Instant::now();
        assert_eq!(parse::<Q>(&query).unwrap().q, "x");
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn enums_newtypes_and_defaults() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Order {
            Asc,
            Desc,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Id(u64);
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct List {
            order: Order,
            id: Id,
            #[serde(default)]
            limit: u32,
        }
        let l: List = parse("order=desc&id=9").unwrap();
        assert_eq!(l, List { order: Order::Desc, id: Id(9), limit: 0 });
        assert!(parse::<List>("order=sideways&id=9").unwrap_err().starts_with("order: unknown variant"));
    }
}
