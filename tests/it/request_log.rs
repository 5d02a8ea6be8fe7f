//! The request log under load (requirements §4; issue 7): workers buffer their log lines, yet every
//! request still gets exactly one line, a quiet daemon writes a line before the client has
//! its answer, and nothing buffered is lost at shutdown.

use crate::common;
use common::*;

#[test]
fn every_request_of_a_burst_gets_one_log_line_even_across_shutdown() {
    let mut d = Daemon::start();
    const THREADS: usize = 16;
    const EACH: usize = 40;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let d = &d;
            s.spawn(move || {
                for i in 0..EACH {
                    let raw = format!(
                        "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: burst-{t}-{i}\r\n\r\n"
                    );
                    assert_eq!(d.send(raw.as_bytes()).status, 200);
                }
            });
        }
    });
    assert!(d.terminate().success());
    let log = d.log();
    for t in 0..THREADS {
        for i in 0..EACH {
            let id = format!(" burst-{t}-{i} GET /health 200 ");
            assert_eq!(log.matches(&id).count(), 1, "one line for {id:?}:\n{log}");
        }
    }
    // Whole lines only: each starts with a timestamp.
    for line in log.lines().filter(|l| l.contains(" GET /health ")) {
        assert!(line.starts_with("20") && line.ends_with("us"), "{line:?}");
    }
}

#[test]
fn a_quiet_daemon_has_logged_a_request_by_the_time_its_answer_is_read() {
    let d = Daemon::start();
    for i in 0..20 {
        let raw =
            format!("GET /version HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: quiet-{i}\r\n\r\n");
        assert_eq!(d.send(raw.as_bytes()).status, 200);
        assert!(
            d.log().contains(&format!(" quiet-{i} GET /version 200 ")),
            "line {i} missing:\n{}",
            d.log()
        );
    }
}
