//! The `platforms` list: each entry a valid platform, none listed twice
//! (even under another spelling).

use std::collections::HashMap;

use super::{quote, Lint, ListOf};
use crate::manifest::locate::{Entry, Pos};
use crate::platform::Platform;

impl Lint<'_> {
    pub(super) fn platforms(&mut self, field: &Entry) -> Option<Vec<Platform>> {
        let items = self.list(
            field,
            &ListOf {
                key: "platforms",
                list: "a list",
                things: "platforms",
                example: "[linux/amd64, linux/arm64]",
                write: |text| format!("platforms: [{text}]"),
            },
        )?;
        let mut all = Some(Vec::with_capacity(items.len()));
        let mut seen: HashMap<Platform, (Pos, &str)> = HashMap::new();
        for item in items {
            let Some(text) = self.string(
                item.pos,
                item,
                "each entry of 'platforms'",
                "a platform such as linux/arm64",
            ) else {
                all = None;
                continue;
            };
            let platform = match text.parse::<Platform>() {
                Ok(platform) => platform,
                Err(reason) => {
                    self.at(
                        item.pos,
                        format!("invalid platform '{}': {reason}", quote(text)),
                    );
                    all = None;
                    continue;
                }
            };
            if let Some((first_pos, first_text)) = seen.get(&platform) {
                let message = if *first_text == text {
                    format!(
                        "duplicate platform '{text}' (first listed on line {})",
                        first_pos.line
                    )
                } else {
                    format!(
                        "duplicate platform '{text}': it is the same platform as '{first_text}' on line {} \
                         (both mean {platform})",
                        first_pos.line
                    )
                };
                self.at(item.pos, message);
                all = None;
                continue;
            }
            seen.insert(platform.clone(), (item.pos, text));
            if let Some(list) = all.as_mut() {
                list.push(platform);
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{problem, problems, valid, BASE};

    #[test]
    fn platforms() {
        let m = valid(&format!(
            "{BASE}platforms: [linux/amd64, Linux/ARM64, linux/arm/v7]\n"
        ));
        assert_eq!(
            m.platforms
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec!["linux/amd64", "linux/arm64", "linux/arm/v7"]
        );
        assert_eq!(
            problem(&format!("{BASE}platforms: [linux/amd46]\n")),
            "m.yaml:6:13: invalid platform 'linux/amd46': unknown architecture 'amd46' (did you mean 'amd64'?)"
        );
        assert_eq!(
            problem(&format!("{BASE}platforms:\n  - linux\n")),
            "m.yaml:7:5: invalid platform 'linux': 'linux' has no architecture; write os/arch or os/arch/variant, e.g. linux/arm64"
        );
        assert_eq!(
            problems(&format!("{BASE}platforms:\n  - linux/arm64\n  - linux/amd64\n  - linux/arm64/v8\n  - linux/amd64\n")),
            vec![
                "m.yaml:9:5: duplicate platform 'linux/arm64/v8': it is the same platform as 'linux/arm64' on line 7 (both mean linux/arm64)",
                "m.yaml:10:5: duplicate platform 'linux/amd64' (first listed on line 8)",
            ]
        );
        assert!(valid(&format!("{BASE}platforms: []\n"))
            .platforms
            .is_empty());
    }
}
