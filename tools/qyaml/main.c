/* qyaml: the .qyaml governance CLI (validate, generate, strip). docs/qyaml.md has the rules.
 * Exit codes: 0 ok, 1 invalid input (validation errors, unparsable file), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eco_governance.h"

static const char usage_text[] =
    "usage: qyaml <command> [options]\n"
    "\n"
    "commands:\n"
    "  validate [--json] FILE...   check .qyaml files against every QYxxx rule; prints\n"
    "                              FILE:LINE: path: message [RULE] (severity) per issue,\n"
    "                              or {\"valid\":bool,\"errors\":[...]} with --json.\n"
    "                              Exit 1 when any file has an error, 0 otherwise.\n"
    "  generate --name N --image I [--port P]... [--depends-on D]... [--namespace NS]\n"
    "           [--version V] [--component C] [--owner O]\n"
    "                              print a governed manifest (Deployment, Service and the\n"
    "                              governance document) for a module.\n"
    "  strip FILE...               print the Kubernetes documents only, as plain YAML.\n"
    "  rules                       list the rules (ID, scope, severity, summary).\n"
    "\n"
    "  -h, --help                  this help;  --version  the qyaml version.\n"
    "FILE may be '-' for standard input.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "qyaml: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'qyaml --help'.\n");
    return 2;
}

static int write_all(FILE *fp, const char *p, size_t n)
{
    if (n && fwrite(p, 1, n, fp) != n)
        return -1;
    return fflush(fp) == 0 ? 0 : -1;
}

static int cmd_validate(int argc, char **argv)
{
    int json = 0, first = 1;
    for (; first < argc; first++) {
        if (strcmp(argv[first], "--json") == 0)
            json = 1;
        else if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        } else if (argv[first][0] == '-' && argv[first][1])
            return usage_error("validate: unknown option '%s'", argv[first]);
        else
            break;
    }
    if (first >= argc)
        return usage_error("validate: %s", "no FILE given");
    eco_governance_report_t r;
    eco_governance_report_init(&r);
    for (int i = first; i < argc; i++)
        eco_governance_validate_path(argv[i], &r);
    eco_buf_t out = ECO_BUF_INIT;
    if (json) {
        eco_governance_report_json(&r, &out);
        eco_buf_addc(&out, '\n');
    } else {
        eco_governance_report_text(&r, &out);
    }
    int rc = r.errors ? 1 : 0;
    if (write_all(stdout, out.base, out.len) != 0)
        rc = 1;
    if (!json)
        fprintf(stderr, "qyaml: %d file%s checked, %zu error%s, %zu warning%s\n", argc - first,
                argc - first == 1 ? "" : "s", r.errors, r.errors == 1 ? "" : "s", r.warnings,
                r.warnings == 1 ? "" : "s");
    eco_buf_free(&out);
    eco_governance_report_free(&r);
    return rc;
}

static int parse_port(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 65535)
        return -1;
    *out = (int)v;
    return 0;
}

static int cmd_generate(int argc, char **argv)
{
    enum { O_NAME = 1, O_IMAGE, O_PORT, O_DEP, O_NS, O_VERSION, O_COMPONENT, O_OWNER };
    static const struct option opts[] = {
        {"name", required_argument, NULL, O_NAME},
        {"image", required_argument, NULL, O_IMAGE},
        {"port", required_argument, NULL, O_PORT},
        {"depends-on", required_argument, NULL, O_DEP},
        {"namespace", required_argument, NULL, O_NS},
        {"version", required_argument, NULL, O_VERSION},
        {"component", required_argument, NULL, O_COMPONENT},
        {"owner", required_argument, NULL, O_OWNER},
        {NULL, 0, NULL, 0},
    };
    int ports[16];
    const char *deps[32];
    eco_governance_module_t m = {0};
    m.ports = ports;
    m.depends_on = deps;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case O_NAME:
            m.name = optarg;
            break;
        case O_IMAGE:
            m.image = optarg;
            break;
        case O_PORT:
            if (m.nports == ECO_ARRAY_SIZE(ports))
                return usage_error("generate: %s", "at most 16 --port options");
            if (parse_port(optarg, &ports[m.nports]) != 0)
                return usage_error("generate: --port: '%s' is not a port 1-65535", optarg);
            m.nports++;
            break;
        case O_DEP:
            if (m.ndepends_on == ECO_ARRAY_SIZE(deps))
                return usage_error("generate: %s", "at most 32 --depends-on options");
            deps[m.ndepends_on++] = optarg;
            break;
        case O_NS:
            m.namespace_ = optarg;
            break;
        case O_VERSION:
            m.version = optarg;
            break;
        case O_COMPONENT:
            m.component = optarg;
            break;
        case O_OWNER:
            m.owner = optarg;
            break;
        default:
            return usage_error("generate: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("generate: unexpected argument '%s'", argv[optind]);
    if (!m.name)
        return usage_error("generate: %s", "--name is required");
    if (!m.image)
        return usage_error("generate: %s", "--image is required");
    char err[256];
    eco_buf_t out = ECO_BUF_INIT;
    if (eco_governance_generate(&m, &out, err, sizeof(err)) != 0) {
        eco_buf_free(&out);
        return usage_error("generate: %s", err);
    }
    int rc = write_all(stdout, out.base, out.len) == 0 ? 0 : 1;
    eco_buf_free(&out);
    return rc;
}

static int cmd_strip(int argc, char **argv)
{
    int first = 1;
    if (first < argc && strcmp(argv[first], "--") == 0)
        first++;
    else if (first < argc && argv[first][0] == '-' && argv[first][1])
        return usage_error("strip: unknown option '%s'", argv[first]);
    if (first >= argc)
        return usage_error("strip: %s", "no FILE given");
    int rc = 0;
    for (int i = first; i < argc && rc == 0; i++) {
        char *data = NULL;
        size_t len = 0;
        eco_governance_report_t r;
        eco_governance_report_init(&r);
        int e = eco_governance_read_file(argv[i], ECO_GOVERNANCE_MAX_FILE_BYTES, &data, &len);
        eco_buf_t out = ECO_BUF_INIT;
        if (e == ECO_ENOSPC) {
            fprintf(stderr, "%s:1: (file): larger than %u bytes [QY004] (error)\n", argv[i],
                    ECO_GOVERNANCE_MAX_FILE_BYTES);
            rc = 1;
        } else if (e != 0) {
            fprintf(stderr, "%s:1: (file): cannot read: %s [QY000] (error)\n", argv[i], strerror(-e));
            rc = 1;
        } else if (eco_governance_strip(argv[i], data, len, &out, &r) != 0) {
            eco_buf_t msg = ECO_BUF_INIT;
            eco_governance_report_text(&r, &msg);
            if (r.len == 0)
                eco_buf_addf(&msg, "%s: cannot emit the stripped stream\n", argv[i]);
            fputs(eco_buf_cstr(&msg), stderr);
            eco_buf_free(&msg);
            rc = 1;
        } else if (write_all(stdout, out.base, out.len) != 0) {
            rc = 1;
        }
        eco_buf_free(&out);
        eco_governance_report_free(&r);
        free(data);
    }
    return rc;
}

static int cmd_rules(void)
{
    static const char *const scopes[] = {"lexical", "document", "cross-document"};
    size_t n;
    const eco_governance_rule_t *rules = eco_governance_rules(&n);
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%s\t%s\n", rules[i].id, scopes[rules[i].scope],
               rules[i].severity == ECO_GOVERNANCE_ERROR ? "error" : "warning", rules[i].summary);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("qyaml %s\n", ECO_VERSION);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    if (strcmp(cmd, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(cmd, "generate") == 0)
        return cmd_generate(argc - 1, argv + 1);
    if (strcmp(cmd, "strip") == 0)
        return cmd_strip(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0 && argc == 2)
        return cmd_rules();
    return usage_error("unknown command '%s'", cmd);
}
