//! Who may connect: `per_listener_settings`, `password_file`, `scram_password_file`, `acl_file`,
//! `allow_anonymous`, and the
//! client identifier rules `allow_zero_length_clientid`, `auto_id_prefix` and `clientid_prefixes`.

use super::super::{Parser, boolean};

pub(in crate::config) fn directive(
    parser: &mut Parser,
    name: &str,
    value: &str,
) -> Option<Result<(), String>> {
    let result = match name {
        "per_listener_settings" => match &parser.first_security_line {
            Some(place) => Err(format!(
                "`per_listener_settings` must come before `password_file`, \
                 `scram_password_file`, `acl_file` and `allow_anonymous` ({}:{})",
                place.file, place.line
            )),
            None => boolean(name, value).map(|on| parser.config.per_listener_settings = on),
        },
        "password_file" | "scram_password_file" | "acl_file" | "allow_anonymous" => {
            let place = parser.place.clone();
            parser.first_security_line.get_or_insert(place.clone());
            let settings = if !parser.config.per_listener_settings {
                None
            } else if let Some(listener) = parser.listeners.last_mut() {
                Some(&mut listener.security)
            } else {
                parser.default_security_place.get_or_insert(place);
                Some(&mut parser.default_security)
            };
            match settings {
                Some(settings) => set(settings, name, value),
                None => {
                    let mut global = parser.config.security_settings();
                    set(&mut global, name, value).map(|()| {
                        parser.config.password_file = global.password_file;
                        parser.config.scram_password_file = global.scram_password_file;
                        parser.config.acl_file = global.acl_file;
                        parser.config.allow_anonymous = global.allow_anonymous;
                    })
                }
            }
        }
        "allow_zero_length_clientid" => {
            boolean(name, value).map(|on| parser.config.allow_zero_length_clientid = on)
        }
        "auto_id_prefix" => {
            parser.config.auto_id_prefix = value.into();
            Ok(())
        }
        // mosquitto's value is one prefix or several separated by commas.
        "clientid_prefixes" => {
            parser.config.clientid_prefixes = value
                .split(',')
                .map(str::trim)
                .filter(|prefix| !prefix.is_empty())
                .map(String::from)
                .collect();
            Ok(())
        }
        _ => return None,
    };
    Some(result)
}

/// Sets one of `password_file`, `scram_password_file`, `acl_file`, `allow_anonymous`.
fn set(
    settings: &mut super::super::SecuritySettings,
    name: &str,
    value: &str,
) -> Result<(), String> {
    match name {
        "password_file" => settings.password_file = Some(value.into()),
        "scram_password_file" => settings.scram_password_file = Some(value.into()),
        "acl_file" => settings.acl_file = Some(value.into()),
        _ => settings.allow_anonymous = Some(boolean(name, value)?),
    }
    Ok(())
}
