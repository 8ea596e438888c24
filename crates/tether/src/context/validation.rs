//! Validation with the `validator` crate: `should_bind_valid_*` bind, then run the type's
//! `#[validate(..)]` rules, and a failure names every field and rule at once.
//!
//! Why separate methods rather than `should_bind_json` validating by itself: Rust cannot
//! ask, inside a generic function, whether `T` happens to implement `Validate`; a type
//! that does not derive it would either stop compiling or be checked at run time for
//! nothing. The `valid` in the name says what is checked.

use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::context::binding::{BindError, Source, Violation};
use crate::Context;

/// Every violation in `errors`, depth first, sorted by field for stable answers.
pub(crate) fn violations(errors: &ValidationErrors) -> Vec<Violation> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field).then(a.rule.cmp(&b.rule)));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<Violation>) {
    for (name, kind) in errors.errors() {
        let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    let message = match &e.message {
                        Some(m) => m.to_string(),
                        None => describe(&e.code, &e.params),
                    };
                    out.push(Violation { field: path.clone(), rule: e.code.to_string(), message });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

/// A message from the rule and its parameters when the rule gave none.
fn describe(
    code: &str,
    params: &std::collections::HashMap<std::borrow::Cow<'static, str>, serde_json::Value>,
) -> String {
    let p = |k: &str| params.get(k).filter(|v| !v.is_null()).map(|v| v.to_string());
    match code {
        "email" => "must be an email address".into(),
        "url" => "must be a URL".into(),
        "required" => "is required".into(),
        "length" => match (p("min"), p("max"), p("equal")) {
            (_, _, Some(n)) => format!("must have length {n}"),
            (Some(a), Some(b), _) => format!("must have length {a} to {b}"),
            (Some(a), None, _) => format!("must have length at least {a}"),
            (None, Some(b), _) => format!("must have length at most {b}"),
            _ => "has the wrong length".into(),
        },
        "range" => match (p("min"), p("max")) {
            (Some(a), Some(b)) => format!("must be between {a} and {b}"),
            (Some(a), None) => format!("must be at least {a}"),
            (None, Some(b)) => format!("must be at most {b}"),
            _ => "is out of range".into(),
        },
        other => format!("fails the rule `{other}`"),
    }
}

impl Context {
    /// [`should_bind_json`](Context::should_bind_json), then the type's validation rules.
    /// A rule that fails is a [`BindError`] whose [`violations`](BindError::violations)
    /// list every failing field and rule.
    ///
    /// ```
    /// use validator::Validate;
    ///
    /// #[derive(serde::Deserialize, Validate)]
    /// struct Signup {
    ///     #[validate(email)]
    ///     email: String,
    ///     #[validate(length(min = 8))]
    ///     password: String,
    /// }
    ///
    /// async fn signup(c: &mut tether::Context) {
    ///     match c.should_bind_valid_json::<Signup>().await {
    ///         Ok(s) => c.json(201, &tether::json!({ "email": s.email })),
    ///         // {"error": "validation failed", "fields": [{"field": "email", "rule": "email", ..}]}
    ///         Err(e) => c.json(e.status(), &e.to_json()),
    ///     }
    /// }
    /// ```
    pub async fn should_bind_valid_json<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        validated(self.should_bind_json().await, Source::Json)
    }

    /// Like [`should_bind_valid_json`](Self::should_bind_valid_json), answering the error
    /// (400 with every violation, or 413) and aborting the chain.
    pub async fn bind_valid_json<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_valid_json().await;
        self.answer_bind_error(result)
    }

    /// [`should_bind_query`](Context::should_bind_query), then the validation rules.
    pub fn should_bind_valid_query<T: DeserializeOwned + Validate>(&self) -> Result<T, BindError> {
        validated(self.should_bind_query(), Source::Query)
    }

    /// Like [`should_bind_valid_query`](Self::should_bind_valid_query), answering 400 and aborting.
    pub fn bind_valid_query<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_valid_query();
        self.answer_bind_error(result)
    }

    /// [`should_bind_form`](Context::should_bind_form), then the validation rules.
    pub async fn should_bind_valid_form<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        validated(self.should_bind_form().await, Source::Form)
    }

    /// Like [`should_bind_valid_form`](Self::should_bind_valid_form), answering the error and aborting.
    pub async fn bind_valid_form<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_valid_form().await;
        self.answer_bind_error(result)
    }

    /// [`should_bind`](Context::should_bind) (the binder by method and content type),
    /// then the validation rules, as Gin's `c.ShouldBind` with `binding:` tags.
    pub async fn should_bind_valid<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        let source = self.binder()?;
        validated(self.should_bind_with(source).await, source)
    }

    /// Like [`should_bind_valid`](Self::should_bind_valid), answering the error and aborting.
    pub async fn bind_valid<T: DeserializeOwned + Validate>(&mut self) -> Result<T, BindError> {
        let result = self.should_bind_valid().await;
        self.answer_bind_error(result)
    }

    /// [`should_bind_uri`](Context::should_bind_uri), then the validation rules.
    pub fn should_bind_valid_uri<T: DeserializeOwned + Validate>(&self) -> Result<T, BindError> {
        validated(self.should_bind_uri(), Source::Uri)
    }
}

/// Rules for `#[validate(custom(function = ..))]` that Gin has and validator lacks.
pub mod rules {
    use validator::ValidationError;

    /// Gin's `binding:"required"` on a field that is not an `Option`: the value must not
    /// be its type's zero (an empty string or list, `0`, `false`). validator's own
    /// `required` checks only that an `Option` is `Some`; a field missing from the input
    /// is already an error for any non-`Option`, non-`default` field.
    ///
    /// ```
    /// use tether::Validate;
    ///
    /// #[derive(serde::Deserialize, Validate)]
    /// struct Login {
    ///     #[validate(custom(function = "tether::rules::required"))]
    ///     user: String,
    ///     #[validate(custom(function = "tether::rules::required"))]
    ///     password: String,
    /// }
    ///
    /// let blank = Login { user: "manu".into(), password: String::new() };
    /// let errors = blank.validate().unwrap_err();
    /// assert_eq!(errors.field_errors()["password"][0].code, "required");
    /// ```
    pub fn required<T: Default + PartialEq>(value: &T) -> Result<(), ValidationError> {
        if *value == T::default() {
            return Err(ValidationError::new("required"));
        }
        Ok(())
    }
}

fn validated<T: Validate>(bound: Result<T, BindError>, source: Source) -> Result<T, BindError> {
    let value = bound?;
    match value.validate() {
        Ok(()) => Ok(value),
        Err(errors) => Err(BindError::invalid(source, violations(&errors))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Validate)]
    struct Address {
        #[validate(length(min = 2))]
        city: String,
    }

    #[derive(Validate)]
    struct User {
        #[validate(email)]
        email: String,
        #[validate(range(min = 18, max = 130))]
        age: u32,
        #[validate(nested)]
        address: Address,
        #[validate(length(min = 1, max = 3))]
        tags: Vec<String>,
    }

    #[test]
    fn every_violation_is_named_with_its_path_and_rule() {
        let user = User { email: "nope".into(), age: 7, address: Address { city: "x".into() }, tags: vec![] };
        let v = violations(&user.validate().unwrap_err());
        let got: Vec<(&str, &str, &str)> =
            v.iter().map(|v| (v.field.as_str(), v.rule.as_str(), v.message.as_str())).collect();
        assert_eq!(
            got,
            [
                ("address.city", "length", "must have length at least 2"),
                ("age", "range", "must be between 18 and 130"),
                ("email", "email", "must be an email address"),
                ("tags", "length", "must have length 1 to 3"),
            ]
        );
    }
}
