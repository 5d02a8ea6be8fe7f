"""A real MCP client (the official Python SDK, `mcp` on PyPI) driving `patina mcp`.

Usage: python3 mcp_client.py PATINA_BINARY PROJECT_DIR PATINA_HOME

Lists the tools, calls `scry` on the fixture project, and makes calls that must fail
cleanly: bad arguments and an unknown tool (JSON-RPC -32602), and a daemon route with no
daemon (a tool result with isError). Prints one line `OK ...` on success; any failed check
raises (non-zero exit, traceback on stderr). Run by tests/it/mcp.rs.
"""
import asyncio
import json
import os
import sys

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError as e:  # the Rust test turns this exit code into a clear message
    print(f"MISSING-MCP-MODULE: {e}", file=sys.stderr)
    sys.exit(3)

try:
    from mcp import MCPError as _McpError
except ImportError:  # older SDKs
    from mcp.shared.exceptions import McpError as _McpError


def field(obj, *names):
    for n in names:
        if hasattr(obj, n):
            return getattr(obj, n)
    raise AttributeError(names[0])


def error_code(exc):
    err = getattr(exc, "error", None)
    if err is not None and hasattr(err, "code"):
        return err.code
    return getattr(exc, "code", None)


async def main(binary, project, home):
    env = {"PATINA_HOME": home, "PATH": os.environ.get("PATH", "")}
    params = StdioServerParameters(command=binary, args=["mcp", "--project", project], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            version = field(init, "protocol_version", "protocolVersion")
            assert version in ("2025-06-18", "2025-03-26", "2024-11-05"), version
            info = field(init, "server_info", "serverInfo")
            assert info.name == "patina", info

            tools = (await session.list_tools()).tools
            names = sorted(t.name for t in tools)
            want = sorted(["scry", "mother_projects", "session_status", "secrets_list", "secrets_scan"])
            assert names == want, names
            for t in tools:
                schema = field(t, "input_schema", "inputSchema")
                assert schema["type"] == "object", t.name
                assert len(t.description) > 40, t.name

            # scry on the fixture project, without a daemon (the index is read directly).
            r = await session.call_tool("scry", {"query": "marigold compaction", "limit": 3})
            assert not field(r, "is_error", "isError"), r
            data = json.loads(r.content[0].text)
            paths = [h["path"] for h in data["results"]]
            assert paths and paths[0] == "layer/core/storage.md", paths
            assert len(paths) <= 3, paths

            # Bad arguments: a JSON-RPC error (-32602), not a crash.
            for name, args in [("scry", {"limit": "many"}), ("scry", {"query": 5}), ("nope", {})]:
                try:
                    r = await session.call_tool(name, args)
                except _McpError as e:
                    assert error_code(e) == -32602, (name, args, e)
                else:
                    assert field(r, "is_error", "isError"), (name, args, r)

            # A daemon route with no daemon: a tool error that says what to do.
            r = await session.call_tool("session_status", {})
            assert field(r, "is_error", "isError"), r
            assert "patina serve" in r.content[0].text, r.content[0].text

            # The server is still alive after all of that.
            await session.send_ping()
            print(f"OK protocol={version} tools={len(names)} hits={len(paths)}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
