//! Environment variables a secret may never set (QA session 9, H3): the names that change how
//! a program runs rather than what data it gets. Depends on nothing.
//!
//! A secret is exported by `secrets run` into the environment of the user's command. A value
//! planted under such a name (while a session is unlocked, in a hand-edited `secrets.toml`, or
//! in a project vault someone else wrote) would run foreign code with every other secret in
//! its environment: `BASH_ENV=/tmp/x.sh bash deploy.sh` sources `/tmp/x.sh` first, and
//! `LD_PRELOAD` loads a library into every dynamic program. [`refused`] is checked by
//! `secrets add` (the CLI and `POST /secrets/add`, through `vault::add`) and again whenever a
//! run's environment is released ([`crate::secrets::EnvMap::refuse_dangerous`]), so a vault
//! written by an older patina or by hand cannot slip one through.
//!
//! Names are compared ASCII-case-insensitively (`http_proxy` is read lower-case by curl, and
//! zsh ties `path` to `PATH`). Sources of the list:
//! - the dynamic loader: glibc's `elf/dl-sysdep`/`sysdeps/generic/unsecvars.h` (the variables
//!   it drops for set-uid programs: `LD_*`, `GCONV_PATH`, `GETCONF_DIR`, `GLIBC_TUNABLES`,
//!   `HOSTALIASES`, `LOCALDOMAIN`, `LOCPATH`, `MALLOC_*`, `NIS_PATH`, `NLSPATH`,
//!   `RESOLV_HOST_CONF`, `RES_OPTIONS`, `TMPDIR`, `TZDIR`) and `ld.so(8)`; `DYLD_*` for macOS's
//!   `dyld(1)`;
//! - shells: `bash(1)` (`BASH_ENV`, `ENV`, `BASH_FUNC_*` exported functions, `SHELLOPTS`,
//!   `BASHOPTS`, `PS1`–`PS4`, `PROMPT_COMMAND`, `IFS`, `CDPATH`, `GLOBIGNORE`, `EXECIGNORE`,
//!   `BASH_XTRACEFD`, `BASH_LOADABLES_PATH`, `INPUTRC`, `HOME`, `PATH`, `SHELL`), `zsh(1)`
//!   (`ZDOTDIR`);
//! - interpreters: `python(1)` (every `PYTHON*`: `PYTHONSTARTUP`, `PYTHONPATH`, `PYTHONHOME`,
//!   `PYTHONINSPECT`, `PYTHONBREAKPOINT`…), `node(1)` (`NODE_OPTIONS`, `NODE_PATH`,
//!   `NODE_EXTRA_CA_CERTS`, `NODE_TLS_REJECT_UNAUTHORIZED`, `NODE_REPL_EXTERNAL_MODULE`),
//!   `perlrun(1)` (`PERL5OPT`, `PERL5LIB`, `PERLLIB`, `PERL5DB`, `PERL5SHELL`), `ruby(1)`
//!   (`RUBYOPT`, `RUBYLIB`, `RUBYSHELL`, `GEM_HOME`, `GEM_PATH`, `BUNDLE_GEMFILE`), the JVM
//!   (`JAVA_TOOL_OPTIONS`, `_JAVA_OPTIONS`, `JDK_JAVA_OPTIONS`, `CLASSPATH`), npm
//!   (`NPM_CONFIG_*`), cargo (`RUSTC`, `RUSTC_WRAPPER`, `RUSTC_WORKSPACE_WRAPPER`, `RUSTDOC`);
//! - tools a command starts: `git(1)` (every `GIT_*`: `GIT_SSH_COMMAND`, `GIT_EXEC_PATH`,
//!   `GIT_CONFIG*`, `GIT_ASKPASS`, `GIT_DIR`…), `SSH_ASKPASS`, `SUDO_ASKPASS`, `SSH_AUTH_SOCK`,
//!   `EDITOR`, `VISUAL`, `PAGER`, `MANPAGER`, `LESSOPEN`, `LESSCLOSE`, `BROWSER`,
//!   `XDG_CONFIG_HOME` (where git, ssh wrappers and most tools read their configuration);
//! - where network traffic goes and whom TLS trusts: every `*_PROXY` (`HTTP_PROXY`,
//!   `https_proxy`, `ALL_PROXY`, `NO_PROXY`…), `SSL_CERT_FILE`, `SSL_CERT_DIR`,
//!   `CURL_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`;
//! - patina's own (`PATINA_HOME`, `PATINA_IDENTITY`, `PATINA_URL`, … and every `PATINA_TEST_*`;
//!   a new variable patina reads is added here).

/// Names refused whole (compared upper-cased), each with the reason shown in the error.
const EXACT: &[(&str, &str)] = &[
    (
        "BASH_ENV",
        "bash sources the file it names before running a script",
    ),
    ("ENV", "sh and bash in POSIX mode source the file it names"),
    ("SHELLOPTS", "it switches shell options on in every bash"),
    ("BASHOPTS", "it switches shell options on in every bash"),
    ("PS1", "a shell runs the command substitutions in it"),
    ("PS2", "a shell runs the command substitutions in it"),
    ("PS3", "a shell runs the command substitutions in it"),
    (
        "PS4",
        "bash runs the command substitutions in it under set -x",
    ),
    ("PROMPT_COMMAND", "bash runs it as a command"),
    ("IFS", "it changes how every shell splits words"),
    ("CDPATH", "it changes where a shell's cd goes"),
    ("GLOBIGNORE", "it changes how bash expands globs"),
    ("EXECIGNORE", "it changes which programs bash finds"),
    ("BASH_XTRACEFD", "it redirects bash's trace output"),
    ("BASH_LOADABLES_PATH", "bash loads builtins from it"),
    (
        "INPUTRC",
        "readline reads key bindings (which can run commands) from it",
    ),
    ("ZDOTDIR", "zsh sources its start-up files from it"),
    (
        "HOME",
        "programs read their start-up and configuration files from it",
    ),
    ("PATH", "it decides which program every command name runs"),
    ("SHELL", "programs run it as the user's shell"),
    (
        "TMPDIR",
        "programs write temporary files there (glibc's unsecvars)",
    ),
    ("GCONV_PATH", "glibc loads character-set modules from it"),
    (
        "GETCONF_DIR",
        "glibc's loader list of unsafe variables names it",
    ),
    (
        "GLIBC_TUNABLES",
        "it changes glibc's behaviour in every program",
    ),
    ("HOSTALIASES", "it changes how host names resolve"),
    ("LOCALDOMAIN", "it changes how host names resolve"),
    ("RES_OPTIONS", "it changes how host names resolve"),
    ("RESOLV_HOST_CONF", "it changes how host names resolve"),
    ("LOCPATH", "glibc loads locale data from it"),
    ("NLSPATH", "glibc loads message catalogs from it"),
    (
        "NIS_PATH",
        "glibc's loader list of unsafe variables names it",
    ),
    ("TZDIR", "glibc loads time-zone files from it"),
    (
        "NODE_OPTIONS",
        "node takes command-line options (--require) from it",
    ),
    ("NODE_PATH", "node loads modules from it"),
    (
        "NODE_EXTRA_CA_CERTS",
        "node trusts the certificates it names",
    ),
    (
        "NODE_TLS_REJECT_UNAUTHORIZED",
        "it switches node's TLS checks off",
    ),
    (
        "NODE_REPL_EXTERNAL_MODULE",
        "node loads the module it names",
    ),
    ("PERL5OPT", "perl takes command-line options (-M) from it"),
    ("PERL5LIB", "perl loads modules from it"),
    ("PERLLIB", "perl loads modules from it"),
    ("PERL5DB", "perl runs it as its debugger"),
    ("PERL5SHELL", "perl runs commands through it"),
    ("RUBYOPT", "ruby takes command-line options (-r) from it"),
    ("RUBYLIB", "ruby loads libraries from it"),
    ("RUBYSHELL", "ruby runs commands through it"),
    ("GEM_HOME", "ruby loads gems from it"),
    ("GEM_PATH", "ruby loads gems from it"),
    ("BUNDLE_GEMFILE", "bundler loads the Gemfile it names"),
    (
        "JAVA_TOOL_OPTIONS",
        "every JVM takes options (-javaagent) from it",
    ),
    (
        "_JAVA_OPTIONS",
        "every JVM takes options (-javaagent) from it",
    ),
    (
        "JDK_JAVA_OPTIONS",
        "the java launcher takes options from it",
    ),
    ("CLASSPATH", "the JVM loads classes from it"),
    ("RUSTC", "cargo runs it as the compiler"),
    ("RUSTC_WRAPPER", "cargo runs it around the compiler"),
    (
        "RUSTC_WORKSPACE_WRAPPER",
        "cargo runs it around the compiler",
    ),
    ("RUSTDOC", "cargo runs it as rustdoc"),
    ("SSH_ASKPASS", "ssh runs it to ask for a passphrase"),
    ("SUDO_ASKPASS", "sudo runs it to ask for a password"),
    (
        "SSH_AUTH_SOCK",
        "ssh hands signing requests to the agent it names",
    ),
    ("EDITOR", "programs run it to edit text"),
    ("VISUAL", "programs run it to edit text"),
    ("PAGER", "programs run it to show text"),
    ("MANPAGER", "man runs it to show text"),
    ("LESSOPEN", "less runs it on every file it opens"),
    ("LESSCLOSE", "less runs it on every file it closes"),
    ("BROWSER", "programs run it to open links"),
    (
        "XDG_CONFIG_HOME",
        "programs read their configuration from it",
    ),
    (
        "SSL_CERT_FILE",
        "TLS clients trust the certificates it names",
    ),
    (
        "SSL_CERT_DIR",
        "TLS clients trust the certificates it names",
    ),
    ("CURL_CA_BUNDLE", "curl trusts the certificates it names"),
    (
        "REQUESTS_CA_BUNDLE",
        "python's requests trusts the certificates it names",
    ),
    ("PATINA_HOME", "patina itself reads it"),
    ("PATINA_IDENTITY", "patina itself reads it"),
    ("PATINA_URL", "patina itself reads it"),
    ("PATINA_SERVE_TOKEN", "patina itself reads it"),
    ("PATINA_NO_KEYRING", "patina itself reads it"),
    ("PATINA_FAULT_ABORT", "patina itself reads it"),
    ("PATINA_WATCH_LIMIT", "patina itself reads it"),
    ("PATINA_POLL_SECS", "patina itself reads it"),
];

/// Prefixes refused (compared upper-cased), each with the reason.
const PREFIXES: &[(&str, &str)] = &[
    (
        "LD_",
        "the dynamic loader reads it (ld.so(8)): it can load code into every program",
    ),
    (
        "DYLD_",
        "macOS's dynamic loader reads it: it can load code into every program",
    ),
    ("MALLOC_", "glibc's allocator reads it (glibc's unsecvars)"),
    ("BASH_FUNC_", "bash imports it as a shell function"),
    (
        "PYTHON",
        "python reads it at start-up (PYTHONSTARTUP, PYTHONPATH… run or load code)",
    ),
    (
        "GIT_",
        "git reads it (GIT_SSH_COMMAND, GIT_EXEC_PATH, GIT_CONFIG… run commands)",
    ),
    (
        "NPM_CONFIG_",
        "npm takes its configuration (script-shell, registry…) from it",
    ),
    ("PATINA_TEST_", "patina itself reads it"),
];

/// Suffixes refused (compared upper-cased), each with the reason.
const SUFFIXES: &[(&str, &str)] = &[(
    "_PROXY",
    "it sends a program's network traffic through another host",
)];

/// Why secrets may not set environment variable `var` (one clause, e.g. "the dynamic loader
/// reads it …"), or `None` when it may. ASCII case does not matter.
pub fn refused(var: &str) -> Option<&'static str> {
    let up = var.to_ascii_uppercase();
    EXACT
        .iter()
        .find(|(n, _)| *n == up)
        .or_else(|| PREFIXES.iter().find(|(p, _)| up.starts_with(p)))
        .or_else(|| SUFFIXES.iter().find(|(s, _)| up.ends_with(s)))
        .map(|(_, why)| *why)
}

/// The one-line error for a refused variable: the variable, why, and what to do instead.
/// `name` is the secret's name (not a value).
pub fn message(var: &str, why: &str, name: &str) -> String {
    format!(
        "secret {name} would set {var}, which changes how programs run ({why}); patina never \
         puts a secret in such a variable: choose another with --env, or remove it with \
         `patina secrets remove {name}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_shell_and_interpreter_variables_are_refused_in_any_case() {
        for v in [
            "LD_PRELOAD",
            "LD_AUDIT",
            "ld_library_path",
            "BASH_ENV",
            "ENV",
            "BASH_FUNC_x",
            "PATH",
            "path",
            "HOME",
            "SHELL",
            "IFS",
            "PS4",
            "PROMPT_COMMAND",
            "PYTHONSTARTUP",
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONINSPECT",
            "NODE_OPTIONS",
            "NODE_PATH",
            "PERL5OPT",
            "PERL5LIB",
            "PERLLIB",
            "RUBYOPT",
            "RUBYLIB",
            "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS",
            "JDK_JAVA_OPTIONS",
            "GIT_SSH",
            "GIT_SSH_COMMAND",
            "GIT_EXEC_PATH",
            "GIT_CONFIG_GLOBAL",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "EDITOR",
            "VISUAL",
            "PAGER",
            "GCONV_PATH",
            "LOCPATH",
            "MALLOC_CHECK_",
            "TMPDIR",
            "http_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "PATINA_IDENTITY",
        ] {
            assert!(refused(v).is_some(), "{v} should be refused");
        }
    }

    #[test]
    fn ordinary_secret_variables_pass() {
        for v in [
            "DATABASE_PASSWORD",
            "GITHUB_TOKEN",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "NODE_ENV",
            "CARGO_REGISTRY_TOKEN",
            "PATHNAME_PREFIX_X",
            "HOMEBREW_GITHUB_API_TOKEN",
            "LDAP_PASSWORD",
            "DB_URL",
        ] {
            assert_eq!(refused(v), None, "{v} should pass");
        }
    }

    #[test]
    fn the_message_names_the_variable_and_the_secret() {
        let why = refused("BASH_ENV").unwrap();
        let m = message("BASH_ENV", why, "zz");
        assert!(m.contains("BASH_ENV") && m.contains("secret zz") && !m.contains('\n'));
    }
}
