package dockerfile_test

import data.dockerfile

i(cmd, value, stage) := {"Cmd": cmd, "Flags": [], "JSON": false, "Stage": stage, "SubCmd": "", "Value": value}

# the shape conftest's Dockerfile parser produces (one entry per instruction)
good := [
	i("comment", ["# build stage"], 0),
	i("from", ["debian:12.8-slim@sha256:0000000000000000000000000000000000000000000000000000000000000000", "AS", "build"], 0),
	i("run", ["make"], 0),
	i("from", ["debian:12.8-slim", "AS", "runtime"], 1),
	i("copy", ["/src/build/bin/x", "/usr/local/bin/x"], 1),
	i("user", ["10001:10001"], 1),
	i("healthcheck", ["CMD", "/usr/local/bin/x", "--health"], 1),
	i("entrypoint", ["/usr/local/bin/x"], 1),
]

test_good_dockerfile_passes if {
	count(dockerfile.deny) == 0 with input as good
}

test_stage_reference_and_scratch_are_not_base_images if {
	df := array.concat(good, [i("from", ["build"], 2), i("from", ["scratch"], 3), i("user", ["10001"], 3), i("healthcheck", ["CMD", "x"], 3)])
	count(dockerfile.deny) == 0 with input as df
}

replace_at(arr, n, x) := array.concat(array.concat(array.slice(arr, 0, n), [x]), array.slice(arr, n + 1, count(arr)))

cases := {
	"root user": [replace_at(good, 5, i("user", ["root"], 1)), "USER root: must not run as root"],
	"uid 0": [replace_at(good, 5, i("user", ["0:0"], 1)), "USER 0:0: must not run as root"],
	"root in build stage": [array.concat([i("user", ["root"], 0)], good), "USER root: must not run as root"],
	"named user": [replace_at(good, 5, i("user", ["app"], 1)), "the final stage must set a non-root numeric USER"],
	"no user": [replace_at(good, 5, i("workdir", ["/"], 1)), "the final stage must set a non-root numeric USER"],
	"user only in build stage": [replace_at(array.concat([i("user", ["10001"], 0)], good), 6, i("workdir", ["/"], 1)), "the final stage must set a non-root numeric USER"],
	"latest": [replace_at(good, 3, i("from", ["debian:latest"], 1)), "FROM debian:latest: base image must not use the latest tag"],
	"untagged": [replace_at(good, 3, i("from", ["debian"], 1)), "FROM debian: base image must be pinned"],
	"codename tag": [replace_at(good, 3, i("from", ["debian:bookworm-slim"], 1)), "FROM debian:bookworm-slim: base image must be pinned"],
	"arg image": [replace_at(good, 3, i("from", ["${BASE}"], 1)), "base image must be pinned"],
	"no healthcheck": [replace_at(good, 6, i("expose", ["8080"], 1)), "the final stage must have a HEALTHCHECK"],
	"healthcheck none": [replace_at(good, 6, i("healthcheck", ["NONE"], 1)), "the final stage must have a HEALTHCHECK"],
}

test_case_denied[name] if {
	some name, tc in cases
	some msg in dockerfile.deny with input as tc[0]
	contains(msg, tc[1])
}

test_each_defect_is_reported_once if {
	root := replace_at(good, 5, i("user", ["root"], 1))
	dockerfile.deny == {"USER root: must not run as root"} with input as root
	latest := replace_at(good, 3, i("from", ["debian:latest"], 1))
	dockerfile.deny == {"FROM debian:latest: base image must not use the latest tag"} with input as latest
}

test_other_inputs_are_ignored if {
	count(dockerfile.deny) == 0 with input as {"kind": "Deployment"}
}
