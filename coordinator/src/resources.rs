//! `sebs resources list|remove`: what sebs created on a platform, and removing it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sebs_common::config::{ConfigFile, Deployment, Overrides};
use sebs_platform::ListedResource;

use crate::platforms::{self, Platform};

#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// List what sebs created on the platform (functions, buckets, roles, ...), each checked
    /// against the platform.
    List(Target),
    /// Remove what sebs created on the platform: asks first, or takes --yes; --dry-run only
    /// shows what would go.
    Remove(RemoveArgs),
}

/// Which platform, and which of its resources.
#[derive(Debug, Args)]
pub struct Target {
    /// Only resources of this kind (function, bucket, role, ...).
    pub kind: Option<String>,
    /// Configuration file in SeBS's format.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The platform [default: the config's, else local].
    #[arg(long, value_parser = |s: &str| s.parse::<Deployment>())]
    pub deployment: Option<Deployment>,
    /// Only resources whose name starts with this.
    #[arg(long)]
    pub prefix: Option<String>,
    /// The cache folder the resources were recorded in.
    #[arg(long, default_value = "cache")]
    pub cache: PathBuf,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub target: Target,
    /// Show what would be removed, and remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(command: ResourcesCommand) -> Result<()> {
    match command {
        ResourcesCommand::List(target) => {
            let (platform, listed) = listed(&target).await?;
            platform.shutdown().await;
            print_table(&listed);
            Ok(())
        }
        ResourcesCommand::Remove(args) => {
            let (platform, listed) = listed(&args.target).await?;
            let outcome = remove(platform.as_ref(), &listed, &args).await;
            platform.shutdown().await;
            outcome
        }
    }
}

async fn listed(target: &Target) -> Result<(Arc<dyn Platform>, Vec<ListedResource>)> {
    let (file, origin) = match &target.config {
        Some(path) => (ConfigFile::load(path)?, path.display().to_string()),
        None => (ConfigFile::default(), "command line".to_string()),
    };
    let overrides = Overrides {
        deployment: target.deployment,
        ..Default::default()
    };
    let run = file.validate(&origin, &overrides)?;
    std::fs::create_dir_all(&target.cache)
        .with_context(|| format!("creating cache folder {}", target.cache.display()))?;
    let cache = target.cache.canonicalize()?;
    let platform = platforms::create(&run, &cache).await?;
    let listed = platform
        .resources()
        .await
        .with_context(|| format!("listing the resources on {}", run.deployment))?;
    let listed = listed
        .into_iter()
        .filter(|l| target.kind.as_deref().is_none_or(|k| l.resource.kind == k))
        .filter(|l| {
            target
                .prefix
                .as_deref()
                .is_none_or(|p| l.resource.name.starts_with(p))
        })
        .collect();
    Ok((platform, listed))
}

fn print_table(listed: &[ListedResource]) {
    if listed.is_empty() {
        println!("no resources");
        return;
    }
    println!("{:<10}{:<48}{:<8}id", "kind", "name", "status");
    for l in listed {
        println!(
            "{:<10}{:<48}{:<8}{}",
            l.resource.kind,
            l.resource.name,
            if l.exists { "exists" } else { "gone" },
            l.resource.id.as_deref().unwrap_or("-")
        );
    }
}

async fn remove(
    platform: &dyn Platform,
    listed: &[ListedResource],
    args: &RemoveArgs,
) -> Result<()> {
    print_table(listed);
    if listed.is_empty() {
        return Ok(());
    }
    if args.dry_run {
        println!(
            "dry run: {} resource(s) would be removed; nothing was",
            listed.len()
        );
        return Ok(());
    }
    if !args.yes && !confirm(listed.len())? {
        println!("nothing removed");
        return Ok(());
    }
    let mut failed = 0;
    for l in listed {
        let r = &l.resource;
        match platform.remove_resource(r).await {
            Ok(()) => println!("removed {} {}", r.kind, r.name),
            Err(e) => {
                failed += 1;
                eprintln!("error: removing {} {}: {e:#}", r.kind, r.name);
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} resource(s) could not be removed",
            listed.len()
        );
    }
    Ok(())
}

/// Asks on the terminal; without one, removing needs --yes.
fn confirm(count: usize) -> Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("not removing {count} resource(s) without confirmation: pass --yes (or --dry-run to see them)");
    }
    print!("remove these {count} resource(s)? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
