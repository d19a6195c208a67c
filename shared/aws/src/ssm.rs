//! Credentials from SSM Parameter Store, read once at cold start.
//!
//! A function's configuration names credentials by environment variable (the alert
//! file's `url_env` and `secret_env`, for example). In AWS the template does not put the
//! credential itself in the environment, where anyone who can read the function's
//! configuration would see it; it sets `X_PARAM` to the name of an SSM SecureString
//! instead. [`ParamEnv`] reads every such parameter (decrypted) and answers lookups of
//! `X` with it. A variable set in the environment wins, and its parameter is not read.

use aws_config::SdkConfig;
use std::collections::HashMap;

/// The suffix of a variable naming the SSM parameter that holds another variable's value.
pub const PARAM_SUFFIX: &str = "_PARAM";

/// GetParameters reads at most this many names per call.
const NAMES_PER_CALL: usize = 10;

/// Why a credential could not be read from SSM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// SSM refused or failed the read (no permission, unreachable, throttled).
    #[error("{var}={name}: the SSM parameter could not be read: {message}")]
    Ssm {
        /// The variable naming the parameter, for example `LEADQ_CRM_WEBHOOK_SECRET_PARAM`.
        var: String,
        /// The parameter.
        name: String,
        /// What SSM said.
        message: String,
    },
    /// No parameter of that name exists.
    #[error("{var}={name}: there is no such SSM parameter")]
    NotFound {
        /// The variable naming the parameter.
        var: String,
        /// The parameter.
        name: String,
    },
    /// The parameter exists but holds nothing.
    #[error("{var}={name}: the SSM parameter is empty")]
    Empty {
        /// The variable naming the parameter.
        var: String,
        /// The parameter.
        name: String,
    },
}

/// The `(X, name)` pairs to read: each `X_PARAM` naming a parameter while `X` is unset or
/// blank, sorted, so the calls and the first error reported are reproducible.
fn wanted(vars: &HashMap<String, String>) -> Vec<(String, String)> {
    let mut wanted: Vec<(String, String)> = vars
        .iter()
        .filter_map(|(var, name)| {
            let target = var.strip_suffix(PARAM_SUFFIX)?;
            let name = name.trim();
            let unset = vars.get(target).is_none_or(|value| value.trim().is_empty());
            (unset && !target.is_empty() && !name.is_empty())
                .then(|| (target.to_string(), name.to_string()))
        })
        .collect();
    wanted.sort();
    wanted
}

/// The environment with every `X_PARAM` indirection resolved.
#[derive(Clone, Default)]
pub struct ParamEnv {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for ParamEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the values are credentials: name the variables only
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("ParamEnv").field("vars", &names).finish()
    }
}

impl ParamEnv {
    /// Resolves the process environment, reading parameters with the SDK configuration.
    /// The SSM client is built only if a parameter is to be read: building one (its
    /// endpoint rules parsed) costs a function's cold start even when it is never called.
    pub async fn from_process(sdk: &SdkConfig) -> Result<ParamEnv, ParamError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        if wanted(&vars).is_empty() {
            return Ok(ParamEnv { vars });
        }
        ParamEnv::resolve(vars, &aws_sdk_ssm::Client::new(sdk)).await
    }

    /// Resolves `vars`: for each `X_PARAM` naming a parameter while `X` is unset or
    /// blank, `X` takes the parameter's decrypted value. SSM is not called when nothing
    /// needs it.
    pub async fn resolve(
        vars: impl IntoIterator<Item = (String, String)>,
        ssm: &aws_sdk_ssm::Client,
    ) -> Result<ParamEnv, ParamError> {
        let mut vars: HashMap<String, String> = vars.into_iter().collect();
        let wanted = wanted(&vars);
        for chunk in wanted.chunks(NAMES_PER_CALL) {
            let mut names: Vec<String> = chunk.iter().map(|(_, name)| name.clone()).collect();
            names.dedup();
            let output = ssm
                .get_parameters()
                .set_names(Some(names))
                .with_decryption(true)
                .send()
                .await
                .map_err(|error| ParamError::Ssm {
                    var: format!("{}{PARAM_SUFFIX}", chunk[0].0),
                    name: chunk[0].1.clone(),
                    // the service's own words (AccessDenied), not the SDK's "service error"
                    message: aws_sdk_ssm::error::DisplayErrorContext(&error).to_string(),
                })?;
            let values: HashMap<String, Option<String>> = output
                .parameters
                .unwrap_or_default()
                .into_iter()
                .filter_map(|parameter| Some((parameter.name?, parameter.value)))
                .collect();
            for (target, name) in chunk {
                let var = format!("{target}{PARAM_SUFFIX}");
                match values.get(name) {
                    None => {
                        return Err(ParamError::NotFound {
                            var,
                            name: name.clone(),
                        });
                    }
                    Some(Some(value)) if !value.is_empty() => {
                        vars.insert(target.clone(), value.clone());
                    }
                    Some(_) => {
                        return Err(ParamError::Empty {
                            var,
                            name: name.clone(),
                        });
                    }
                }
            }
        }
        Ok(ParamEnv { vars })
    }

    /// The value of `var`: from the environment, else from the parameter `var_PARAM` named.
    pub fn get(&self, var: &str) -> Option<String> {
        self.vars.get(var).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_parameters_whose_variable_is_unset_or_blank_are_wanted_in_order() {
        let wanted = wanted(&vars(&[
            ("B_SECRET_PARAM", "/leadq/b"),
            ("A_SECRET_PARAM", " /leadq/a "),
            ("SET_PARAM", "/leadq/set"),
            ("SET", "already here"),
            ("BLANK_PARAM", "/leadq/blank"),
            ("BLANK", "  "),
            ("NAMELESS_PARAM", " "),
            ("_PARAM", "/leadq/no-target"),
            ("PLAIN", "value"),
        ]));
        let pair = |x: &str, n: &str| (x.to_string(), n.to_string());
        assert_eq!(
            wanted,
            vec![
                pair("A_SECRET", "/leadq/a"),
                pair("BLANK", "/leadq/blank"),
                pair("B_SECRET", "/leadq/b"),
            ]
        );
    }
}
