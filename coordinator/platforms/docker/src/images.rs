//! The images functions run and build in, found on the engine (never pulled: they are made by
//! `dockerfiles/images.sh` without pulling anything).

use anyhow::{bail, Result};
use bollard::query_parameters::ListImagesOptionsBuilder;
use bollard::Docker;
use sebs_common::Language;

/// The label of a run image that names the build image of the same Debian release.
pub const BUILD_IMAGE_LABEL: &str = "org.sebs.build-image";

/// An image by the name it was asked for and the id the engine has for it.
#[derive(Clone, Debug)]
pub struct Image {
    pub name: String,
    pub id: String,
}

#[derive(Clone, Debug)]
pub struct Images {
    pub docker: Docker,
    /// `sebs/run:{language}-{version}`.
    pub run_template: String,
    pub build_override: Option<String>,
}

impl Images {
    pub fn run_name(&self, language: Language, version: &str) -> String {
        self.run_template
            .replace("{language}", language.as_str())
            .replace("{version}", version)
    }

    /// The run image of a language version, or an error saying how to build it.
    pub async fn run_image(&self, language: Language, version: &str) -> Result<Image> {
        let name = self.run_name(language, version);
        match self.docker.inspect_image(&name).await {
            Ok(image) => Ok(Image {
                id: image.id.unwrap_or_default(),
                name,
            }),
            Err(_) => bail!(
                "the Docker engine has no image {name} for {language} {version}; build it with \
                 `dockerfiles/images.sh` (python 3.11 and nodejs 18 from Debian bookworm; \
                 `dockerfiles/images.sh trixie` for python 3.13 and nodejs 20). Run images this \
                 engine has: {}",
                self.available().await
            ),
        }
    }

    /// The image that installs the dependencies of a language version: the configured one, or
    /// the one the run image's label names.
    pub async fn build_image(&self, language: Language, version: &str) -> Result<Image> {
        let name = match &self.build_override {
            Some(name) => name.clone(),
            None => {
                let run = self.run_image(language, version).await?;
                let label = self
                    .docker
                    .inspect_image(&run.id)
                    .await?
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(BUILD_IMAGE_LABEL).cloned());
                match label {
                    Some(name) => name,
                    None => bail!(
                        "run image {} has no {BUILD_IMAGE_LABEL} label naming its build image; \
                         set deployment.docker.build_image",
                        run.name
                    ),
                }
            }
        };
        match self.docker.inspect_image(&name).await {
            Ok(image) => Ok(Image {
                id: image.id.unwrap_or_default(),
                name,
            }),
            Err(_) => bail!(
                "the Docker engine has no build image {name}; build it with `dockerfiles/images.sh`"
            ),
        }
    }

    /// The run images the engine has, for error messages.
    async fn available(&self) -> String {
        let repository = self
            .run_template
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let options = ListImagesOptionsBuilder::default().build();
        let mut names: Vec<String> = match self.docker.list_images(Some(options)).await {
            Ok(images) => images
                .into_iter()
                .flat_map(|i| i.repo_tags)
                .filter(|t| t.starts_with(&format!("{repository}:")))
                .collect(),
            Err(e) => return format!("(cannot list images: {e})"),
        };
        names.sort();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}
