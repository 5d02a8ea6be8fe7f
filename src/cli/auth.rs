//! `patina auth …`: the age-key identities for TCP (requirements §8): the daemon's key, this
//! client's key, the allowed clients and the pinned server keys. Only public recipients are
//! ever printed. Depends on [`crate::auth`] (the key files), [`crate::client`] (the URL parser)
//! and [`crate::paths`].

use crate::auth::keys as agekey;
use crate::client::url::DaemonUrl;
use crate::paths::Home;

/// `patina auth` subcommands.
#[derive(Debug, clap::Subcommand)]
#[command(defer = true)]
pub enum AuthCmd {
    /// Print the daemon's public TCP key (age1…), creating it if missing.
    #[command(
        after_help = "Examples:\n  patina auth server-key          # give it to the client for `patina auth pin`"
    )]
    ServerKey,
    /// Print this client's public key (age1…) for the server admin, creating it if missing.
    #[command(
        after_help = "Examples:\n  patina auth client-key          # give it to the daemon's admin for `patina auth allow`"
    )]
    ClientKey,
    /// Allow a client key to open sessions (takes effect without restart).
    #[command(after_help = "Examples:\n  patina auth allow age1… --name ci-container")]
    Allow {
        /// The client's recipient, from `patina auth client-key` on the client.
        recipient: String,
        /// A name for it (A-Z a-z 0-9 . _ -), used by `revoke`.
        #[arg(long)]
        name: String,
    },
    /// Revoke a client by name: its handshakes and live sessions fail from now on.
    #[command(after_help = "Examples:\n  patina auth revoke ci-container")]
    Revoke {
        /// The name given to `allow`.
        name: String,
    },
    /// List the allowed clients.
    #[command(after_help = "Examples:\n  patina auth list\n  patina auth list --json")]
    List {
        /// Print JSON: `[{"name": …, "recipient": …}]`.
        #[arg(long)]
        json: bool,
    },
    /// Pin a daemon's key for a URL (instead of trusting it on first use).
    #[command(after_help = "Examples:\n  patina auth pin http://devbox:50051 age1…")]
    Pin {
        /// The daemon URL, http://HOST:PORT.
        url: String,
        /// Its key, from `patina auth server-key` on the daemon's machine.
        recipient: String,
    },
}

/// Runs one `patina auth` subcommand.
pub fn run(c: AuthCmd) -> super::CliResult {
    let home = Home::from_env()?;
    match c {
        AuthCmd::ServerKey => {
            let k = agekey::load_or_create_key(&agekey::server_key_path(&home))?;
            outln!("{}", k.recipient());
        }
        AuthCmd::ClientKey => {
            let k = agekey::load_or_create_key(&agekey::client_key_path(&home))?;
            outln!("{}", k.recipient());
        }
        AuthCmd::Allow { recipient, name } => {
            agekey::allow(&home, &recipient, &name).map_err(|e| super::usage(e.to_string()))?;
            outln!("allowed {name}");
        }
        AuthCmd::Revoke { name } => {
            ensure!(
                agekey::revoke(&home, &name)?,
                "no allowed client has that name"
            );
            outln!("revoked {name}");
        }
        AuthCmd::List { json } => {
            let list = agekey::list_allowed(&home)?;
            if json {
                outln!("{}", serde_json::to_string(&list)?);
            } else {
                for c in list {
                    outln!("{}\t{}", c.name, c.recipient);
                }
            }
        }
        AuthCmd::Pin { url, recipient } => {
            let url = DaemonUrl::parse(&url)
                .map_err(|e| super::usage(e.to_string()))?
                .normalized();
            agekey::pin(&home, &url, &recipient).map_err(|e| super::usage(e.to_string()))?;
            outln!("pinned {} for {url}", agekey::fingerprint(&recipient));
        }
    }
    Ok(())
}
