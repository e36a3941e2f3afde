# METADATA
# title: Dockerfile rules for eco-base images
# description: |
#   conftest's Dockerfile input (`conftest test --namespace dockerfile Dockerfile`, conftest >= 0.60):
#   an array of instructions {"Cmd": "from", "Flags": [...], "JSON": bool, "Stage": n,
#   "SubCmd": "", "Value": [...]}, commands lower-cased, one entry per instruction (comments as
#   "comment"). Rules: no root USER anywhere; the final stage sets a non-root numeric USER; every
#   base image is pinned (an explicit version tag or a digest, never latest); the final stage has
#   a HEALTHCHECK.
package dockerfile

instructions := input if is_array(input)

final_stage := max([i.Stage | some i in instructions])

# names given with FROM ... AS <name> (a later FROM <name> is not a registry image)
stage_names contains lower(i.Value[2]) if {
	some i in instructions
	i.Cmd == "from"
	count(i.Value) >= 3
	lower(i.Value[1]) == "as"
}

user_name(v) := split(v, ":")[0]

deny contains sprintf("USER %s: must not run as root", [i.Value[0]]) if {
	some i in instructions
	i.Cmd == "user"
	user_name(i.Value[0]) in {"root", "0"}
}

final_users := [i.Value[0] | some i in instructions; i.Cmd == "user"; i.Stage == final_stage]

deny contains "the final stage must set a non-root numeric USER (e.g. USER 10001:10001)" if {
	instructions
	not final_user_ok
	not final_user_is_root # reported once, by the USER rule above
}

final_user_is_root if user_name(final_users[count(final_users) - 1]) in {"root", "0"}

final_user_ok if {
	u := final_users[count(final_users) - 1]
	regex.match(`^[0-9]+(:[0-9]+)?$`, u)
	to_number(user_name(u)) != 0
}

# ---------------------------------------------------------------- base images

base_images contains img if {
	some i in instructions
	i.Cmd == "from"
	img := i.Value[0]
	img != "scratch"
	not lower(img) in stage_names
}

image_tag(img) := tag if {
	ref := split(img, "@")[0]
	parts := split(ref, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
}

pinned(img) if regex.match(`@sha256:[0-9a-f]{64}$`, img)

pinned(img) if regex.match(`^v?[0-9]+(\.[0-9]+)*([-_.+][A-Za-z0-9._-]+)?$`, image_tag(img))

is_latest(img) if image_tag(img) == "latest"

deny contains sprintf("FROM %s: base image must not use the latest tag", [img]) if {
	some img in base_images
	is_latest(img)
}

deny contains sprintf("FROM %s: base image must be pinned (an explicit version tag or a sha256 digest)", [img]) if {
	some img in base_images
	not pinned(img)
	not is_latest(img) # reported once, by the latest rule above
}

# ---------------------------------------------------------------- healthcheck

deny contains "the final stage must have a HEALTHCHECK" if {
	instructions
	not final_healthcheck
}

final_healthcheck if {
	some i in instructions
	i.Cmd == "healthcheck"
	i.Stage == final_stage
	upper(i.Value[0]) != "NONE"
}
