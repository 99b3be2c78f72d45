"""The sandbox: run a repository's own tests on hostile code in hardened containers.

    sandbox = open_sandbox(config.sandbox)                 # jobs.sandbox.runner; SandboxUnavailable
    env = ensure_env_image(sandbox.client, sandbox.settings, checkout)   # jobs.sandbox.env_image
    workdir = prepare_workdir(checkout, scratch / "run-1")  # jobs.sandbox.workdir, a copy per run
    result = sandbox.run(env.tag, ["python", "-m", "pytest", "-q"], workdir)
    result.ok, result.reason                               # "timed out after 600 s", ...

A warm container (jobs.sandbox.warm) keeps the same hardening for all the runs of
one analysis, with a server started in it that the caller talks to (the validation's
fork server: jobs.validation.warm_runner).

The package imports nothing on its own: its settings (jobs.sandbox.settings) are read
by processes that never start a container. The base image is built by
`python -m jobs.sandbox.base_image` (scripts/build-sandbox-base). See docs/sandbox.md
for the threat model and the limits.
"""
