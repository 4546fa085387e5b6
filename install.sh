#!/bin/sh
# Installs kedge as a service, the way k3s's install.sh installs k3s:
#
#   curl -sfL <url>/install.sh | sh -                           # a server
#   curl -sfL <url>/install.sh | KEDGE_URL=https://server:6443 KEDGE_TOKEN=T sh -   # an agent
#   curl -sfL <url>/install.sh | sh -s - --disable=traefik      # flags for kedge
#   INSTALL_KEDGE_SKIP_DOWNLOAD=true ./install.sh               # air-gap: binary placed by hand
#
# It installs the binary (downloaded and checked against sha256sum-<arch>.txt, or one placed
# by hand, or a local file), links kubectl/crictl/ctr to it where those names are free and
# kedge provides them, writes a systemd unit (or an openrc script) and its environment file,
# kedge-killall.sh and kedge[-agent]-uninstall.sh, then enables and (re)starts the service.
# Running it again changes nothing and restarts nothing unless the binary, the unit or the
# environment changed.
#
# Environment:
#   KEDGE_*                      kept in the service's environment file (mode 0600), e.g.
#                                KEDGE_TOKEN, KEDGE_DATA_DIR, KEDGE_NODE_NAME
#   KEDGE_URL                    makes the service an agent joining that server (https://);
#                                then KEDGE_TOKEN or KEDGE_TOKEN_FILE is required
#   INSTALL_KEDGE_EXEC           the command and flags: "server --disable=traefik", or only
#                                flags; script arguments are added after it. Words are
#                                separated by spaces: give a flag holding spaces as a script
#                                argument instead
#   INSTALL_KEDGE_VERSION        release to download (default: the latest)
#   INSTALL_KEDGE_RELEASE_URL    where releases are: <url>/download/<version>/<file>, and
#                                <url>/latest/download/<file> for the latest
#   INSTALL_KEDGE_BINARY         install this local file instead of downloading (checked
#                                against a sha256sum-<arch>.txt beside it when there is one)
#   INSTALL_KEDGE_SKIP_DOWNLOAD  true: use the binary already at <bin dir>/kedge
#   INSTALL_KEDGE_ARCH           architecture to install (default: uname -m)
#   INSTALL_KEDGE_BIN_DIR        binary, links and scripts (default /usr/local/bin, or
#                                /opt/bin when /usr/local/bin is read-only)
#   INSTALL_KEDGE_SYSTEMD_DIR    systemd unit and environment file (default /etc/systemd/system)
#   INSTALL_KEDGE_INIT           systemd or openrc (default: whichever this machine runs)
#   INSTALL_KEDGE_NAME           service name suffix: kedge-<name> (default kedge / kedge-agent)
#   INSTALL_KEDGE_SYMLINK        skip: no kubectl/crictl/ctr links; force: replace what is there
#   INSTALL_KEDGE_SKIP_ENABLE    true: neither enable nor start the service
#   INSTALL_KEDGE_SKIP_START     true: enable but do not start the service
#   INSTALL_KEDGE_FORCE_RESTART  true: restart the service even when nothing changed
# For other layouts (and tests): INSTALL_KEDGE_CONFIG_DIR (default /etc/kedge),
# INSTALL_KEDGE_RUN_DIR (/run/kedge), INSTALL_KEDGE_OPENRC_DIR (/etc/init.d),
# INSTALL_KEDGE_LOGROTATE_DIR (/etc/logrotate.d).
set -e
set -f

# Releases are not published yet: until they are, set INSTALL_KEDGE_RELEASE_URL, or use
# INSTALL_KEDGE_BINARY / INSTALL_KEDGE_SKIP_DOWNLOAD.
DEFAULT_RELEASE_URL=https://releases.kedge.invalid

info() { echo "[INFO]  $*"; }
warn() { echo "[WARN]  $*" >&2; }
fatal() { echo "[ERROR] $*" >&2; exit 1; }

# --- quoting ---
# A word for sh: single-quoted, with each ' written '\''.
sh_quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}
# Text inside double quotes for sh: \, ", $ and ` escaped.
dq_escape() {
    printf '%s' "$1" | sed -e 's/[\\"$`]/\\&/g'
}
# A word for a systemd command line: double-quoted, with \ and " escaped, and % and $
# doubled so that systemd takes them literally.
systemd_quote() {
    printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/%/%%/g' -e 's/\$/$$/g')"
}

# --- settings ---
setup_env() {
    case "$1" in
        -*|"")
            if [ -z "${KEDGE_URL}" ]; then
                CMD_KEDGE=server
            else
                if [ -z "${KEDGE_TOKEN}" ] && [ -z "${KEDGE_TOKEN_FILE}" ]; then
                    fatal "KEDGE_URL is set, so this installs an agent, which needs KEDGE_TOKEN or KEDGE_TOKEN_FILE (the server's token: /var/lib/kedge/server/token on the server)"
                fi
                CMD_KEDGE=agent
            fi
            ;;
        server|agent)
            CMD_KEDGE=$1
            shift
            ;;
        *)
            fatal "unknown kedge command '$1': INSTALL_KEDGE_EXEC and the arguments start with server, agent or a flag"
            ;;
    esac
    case "${KEDGE_URL}" in
        ""|https://*) ;;
        *) fatal "KEDGE_URL must start with https:// (it is ${KEDGE_URL})" ;;
    esac
    EXEC_ARGS_SYSTEMD=$(systemd_quote "${CMD_KEDGE}")
    EXEC_ARGS_SH=$(sh_quote "${CMD_KEDGE}")
    for arg in "$@"; do
        case "$arg" in
            *"
"*) fatal "a kedge argument holds a line break: $arg" ;;
        esac
        EXEC_ARGS_SYSTEMD="${EXEC_ARGS_SYSTEMD} \\
    $(systemd_quote "$arg")"
        EXEC_ARGS_SH="${EXEC_ARGS_SH} $(sh_quote "$arg")"
    done

    if [ -n "${INSTALL_KEDGE_NAME}" ]; then
        SYSTEM_NAME=kedge-${INSTALL_KEDGE_NAME}
    elif [ "${CMD_KEDGE}" = server ]; then
        SYSTEM_NAME=kedge
    else
        SYSTEM_NAME=kedge-${CMD_KEDGE}
    fi
    case "${SYSTEM_NAME}" in
        *[!A-Za-z0-9_.-]*) fatal "INSTALL_KEDGE_NAME may hold only letters, digits, '.', '_' and '-' (service name ${SYSTEM_NAME})" ;;
    esac

    SUDO=
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO=sudo
        else
            warn "not root and no sudo: installing as $(id -un)"
        fi
    fi

    if [ -n "${INSTALL_KEDGE_BIN_DIR}" ]; then
        BIN_DIR=${INSTALL_KEDGE_BIN_DIR}
    else
        BIN_DIR=/usr/local/bin
        if ! $SUDO sh -c "touch ${BIN_DIR}/.kedge-ro-test && rm -f ${BIN_DIR}/.kedge-ro-test" 2>/dev/null; then
            if [ -d /opt/bin ]; then
                BIN_DIR=/opt/bin
            fi
        fi
    fi
    SYSTEMD_DIR=${INSTALL_KEDGE_SYSTEMD_DIR:-/etc/systemd/system}
    CONFIG_DIR=${INSTALL_KEDGE_CONFIG_DIR:-/etc/kedge}
    RUN_DIR=${INSTALL_KEDGE_RUN_DIR:-/run/kedge}
    OPENRC_DIR=${INSTALL_KEDGE_OPENRC_DIR:-/etc/init.d}
    LOGROTATE_DIR=${INSTALL_KEDGE_LOGROTATE_DIR:-/etc/logrotate.d}
    DATA_DIR=${KEDGE_DATA_DIR:-/var/lib/kedge}
    BIN_KEDGE=${BIN_DIR}/kedge
    KILLALL_SH=${BIN_DIR}/kedge-killall.sh
    UNINSTALL_SH=${BIN_DIR}/${SYSTEM_NAME}-uninstall.sh

    case "${INSTALL_KEDGE_INIT}" in
        systemd|openrc) INIT=${INSTALL_KEDGE_INIT} ;;
        "")
            if [ -n "${INSTALL_KEDGE_SYSTEMD_DIR}" ]; then
                INIT=systemd
            elif [ -x /sbin/openrc-run ]; then
                INIT=openrc
            elif [ -d /run/systemd/system ] || command -v systemctl >/dev/null 2>&1; then
                INIT=systemd
            else
                fatal "found neither systemd nor openrc to run kedge under (set INSTALL_KEDGE_INIT to choose)"
            fi
            ;;
        *) fatal "INSTALL_KEDGE_INIT must be systemd or openrc (it is ${INSTALL_KEDGE_INIT})" ;;
    esac
    if [ "${INIT}" = systemd ]; then
        FILE_SERVICE=${SYSTEMD_DIR}/${SYSTEM_NAME}.service
        FILE_ENV=${SYSTEMD_DIR}/${SYSTEM_NAME}.service.env
        FILE_LOGROTATE=
    else
        FILE_SERVICE=${OPENRC_DIR}/${SYSTEM_NAME}
        FILE_ENV=${CONFIG_DIR}/${SYSTEM_NAME}.env
        FILE_LOGROTATE=${LOGROTATE_DIR}/${SYSTEM_NAME}
    fi
    MODPROBE=$(command -v modprobe 2>/dev/null || echo /sbin/modprobe)

    TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kedge-install.XXXXXXXXXX")
    trap 'rm -rf "${TMP_DIR}"' EXIT
    trap 'exit 130' INT TERM

    PRE_INSTALL_HASHES=$(installed_hashes)
}

# The hashes of what a restart depends on: binary, service file, environment file.
installed_hashes() {
    for file in "${BIN_KEDGE}" "${FILE_SERVICE}" "${FILE_ENV}"; do
        if [ -f "$file" ]; then
            $SUDO cat "$file" | sha256
        else
            echo "absent"
        fi
    done
}

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum | cut -d' ' -f1
    else
        shasum -a 256 | cut -d' ' -f1
    fi
}

# Writes standard input to $2 with mode $1, unless $2 already holds exactly that: a second
# run leaves files untouched. $3 says what the file is.
put_file() {
    cat >"${TMP_DIR}/put"
    if [ -f "$2" ] && $SUDO cmp -s "${TMP_DIR}/put" "$2"; then
        info "Unchanged: $3 $2"
        $SUDO chmod "$1" "$2"
        return
    fi
    info "Writing $3 $2 (mode $1)"
    $SUDO mkdir -p "$(dirname "$2")"
    (umask 077 && $SUDO cp "${TMP_DIR}/put" "$2.kedge-new" && $SUDO chmod "$1" "$2.kedge-new" && $SUDO mv -f "$2.kedge-new" "$2")
}

# --- the binary ---
setup_arch() {
    arch=${INSTALL_KEDGE_ARCH:-$(uname -m)}
    case "$arch" in
        amd64|x86_64) ARCH=amd64; SUFFIX= ;;
        arm64|aarch64|armv8*) ARCH=arm64; SUFFIX=-arm64 ;;
        *) fatal "unsupported architecture $arch: kedge is built for x86_64 (amd64) and aarch64 (arm64)" ;;
    esac
    ASSET=kedge${SUFFIX}
}

setup_downloader() {
    if command -v curl >/dev/null 2>&1; then
        DOWNLOADER=curl
    elif command -v wget >/dev/null 2>&1; then
        DOWNLOADER=wget
    else
        fatal "found neither curl nor wget to download kedge with"
    fi
}

download() {
    case "${DOWNLOADER}" in
        curl) curl -fsSL -o "$1" "$2" ;;
        wget) wget -qO "$1" "$2" ;;
    esac || {
        if [ "${RELEASE_URL}" = "${DEFAULT_RELEASE_URL}" ]; then
            fatal "cannot download $2: kedge releases are not published yet; set INSTALL_KEDGE_RELEASE_URL, or install a local file with INSTALL_KEDGE_BINARY=/path/to/kedge"
        fi
        fatal "cannot download $2"
    }
}

# The sha256 that sha256sum file $1 lists for the asset, or nothing.
listed_hash() {
    awk -v name="${ASSET}" '$2 == name || $2 == "*" name { print $1; exit }' "$1"
}

installed_hash_matches() {
    [ -x "${BIN_KEDGE}" ] && [ "$($SUDO cat "${BIN_KEDGE}" | sha256)" = "$1" ]
}

install_binary() {
    $SUDO mkdir -p "${BIN_DIR}"
    chmod 0755 "$1"
    info "Installing kedge to ${BIN_KEDGE}"
    $SUDO cp "$1" "${BIN_KEDGE}.kedge-new"
    $SUDO chmod 0755 "${BIN_KEDGE}.kedge-new"
    $SUDO mv -f "${BIN_KEDGE}.kedge-new" "${BIN_KEDGE}"
}

download_and_verify() {
    if [ "${INSTALL_KEDGE_SKIP_DOWNLOAD}" = true ]; then
        info "Skipping the download (INSTALL_KEDGE_SKIP_DOWNLOAD=true): using ${BIN_KEDGE}"
        [ -x "${BIN_KEDGE}" ] || fatal "no executable kedge at ${BIN_KEDGE}: place the binary there first, or leave INSTALL_KEDGE_SKIP_DOWNLOAD unset"
        return
    fi
    setup_arch
    if [ -n "${INSTALL_KEDGE_BINARY}" ]; then
        [ -f "${INSTALL_KEDGE_BINARY}" ] || fatal "INSTALL_KEDGE_BINARY=${INSTALL_KEDGE_BINARY} is not a file"
        hash_have=$(sha256 <"${INSTALL_KEDGE_BINARY}")
        sums="$(dirname "${INSTALL_KEDGE_BINARY}")/sha256sum-${ARCH}.txt"
        if [ -f "$sums" ]; then
            hash_want=$(listed_hash "$sums")
            [ -n "$hash_want" ] || fatal "$sums lists no ${ASSET}"
            [ "$hash_want" = "$hash_have" ] || fatal "${INSTALL_KEDGE_BINARY} has sha256 ${hash_have}, but $sums lists ${hash_want}"
            info "Verified ${INSTALL_KEDGE_BINARY} against $sums"
        fi
        if installed_hash_matches "$hash_have"; then
            info "Skipping the install: ${BIN_KEDGE} is ${INSTALL_KEDGE_BINARY} already"
            return
        fi
        cp "${INSTALL_KEDGE_BINARY}" "${TMP_DIR}/kedge"
        install_binary "${TMP_DIR}/kedge"
        return
    fi

    setup_downloader
    RELEASE_URL=${INSTALL_KEDGE_RELEASE_URL:-${DEFAULT_RELEASE_URL}}
    RELEASE_URL=${RELEASE_URL%/}
    if [ -n "${INSTALL_KEDGE_VERSION}" ]; then
        base=${RELEASE_URL}/download/${INSTALL_KEDGE_VERSION}
        info "Using kedge ${INSTALL_KEDGE_VERSION}"
    else
        base=${RELEASE_URL}/latest/download
        info "Using the latest kedge release"
    fi
    info "Downloading ${base}/sha256sum-${ARCH}.txt"
    download "${TMP_DIR}/sha256sum.txt" "${base}/sha256sum-${ARCH}.txt"
    hash_want=$(listed_hash "${TMP_DIR}/sha256sum.txt")
    [ -n "$hash_want" ] || fatal "sha256sum-${ARCH}.txt lists no ${ASSET}"
    if installed_hash_matches "$hash_want"; then
        info "Skipping the download: ${BIN_KEDGE} matches sha256 ${hash_want}"
        return
    fi
    info "Downloading ${base}/${ASSET}"
    download "${TMP_DIR}/kedge" "${base}/${ASSET}"
    hash_have=$(sha256 <"${TMP_DIR}/kedge")
    if [ "$hash_have" != "$hash_want" ]; then
        fatal "the download's sha256 is ${hash_have}, but sha256sum-${ARCH}.txt lists ${hash_want}: not installing it"
    fi
    info "Verified the download's sha256 ${hash_have}"
    install_binary "${TMP_DIR}/kedge"
}

# --- links: kubectl, crictl, ctr, where the name is free and kedge has that command ---
create_symlinks() {
    [ "${INSTALL_KEDGE_SYMLINK}" = skip ] && return
    for cmd in kubectl crictl ctr; do
        link=${BIN_DIR}/${cmd}
        if [ -L "$link" ] && [ "$(readlink "$link")" = kedge ]; then
            continue
        fi
        if [ "${INSTALL_KEDGE_SYMLINK}" != force ]; then
            if [ -e "$link" ] || [ -L "$link" ]; then
                info "Not linking ${link} to kedge: it exists"
                continue
            fi
            found=$(command -v "$cmd" 2>/dev/null || true)
            if [ -n "$found" ]; then
                info "Not linking ${link} to kedge: ${cmd} is ${found}"
                continue
            fi
        fi
        if ! "${BIN_KEDGE}" "$cmd" --help >/dev/null 2>&1; then
            info "Not linking ${link}: this kedge has no '${cmd}' command"
            continue
        fi
        info "Linking ${link} to kedge"
        $SUDO ln -sf kedge "$link"
    done
}

# --- the environment file: every KEDGE_* variable, and proxy settings ---
env_file() {
    env | sed -n 's/^\(KEDGE_[A-Za-z0-9_]*\)=.*/\1/p; s/^\([Nn][Oo]_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p; s/^\([Hh][Tt][Tt][Pp][Ss]*_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p' |
        LC_ALL=C sort -u |
        while read -r name; do
            eval "value=\${$name}"
            # shellcheck disable=SC2154 # set by the eval above
            case "$value" in
                *"
"*) fatal "${name} holds a line break, which a service environment file cannot carry" ;;
            esac
            echo "${name}=$(sh_quote "$value")"
        done
}

create_env_file() {
    env_file >"${TMP_DIR}/env"
    put_file 0600 "${FILE_ENV}" "the environment file" <"${TMP_DIR}/env"
}

# --- service files ---
systemd_unit() {
    cat <<EOF
[Unit]
Description=kedge ${CMD_KEDGE}: Kubernetes in one binary
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-${FILE_ENV}
KillMode=process
Delegate=yes
User=root
# No per-service limits: accounting them costs the kernel; pods are accounted in their cgroups.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-${MODPROBE} br_netfilter
ExecStartPre=-${MODPROBE} overlay
ExecStart=${BIN_KEDGE} \\
    ${EXEC_ARGS_SYSTEMD}
EOF
}

openrc_script() {
    log_file=/var/log/${SYSTEM_NAME}.log
    cat <<EOF
#!/sbin/openrc-run
# shellcheck shell=sh disable=SC2034 # openrc reads these variables

description="kedge ${CMD_KEDGE}: Kubernetes in one binary"

depend() {
    after network-online
    want cgroups
}

start_pre() {
    ${MODPROBE} br_netfilter 2>/dev/null || true
    ${MODPROBE} overlay 2>/dev/null || true
}

supervisor=supervise-daemon
name=${SYSTEM_NAME}
command=$(sh_quote "${BIN_KEDGE}")
command_args="$(dq_escape "${EXEC_ARGS_SH}")"
output_log=${log_file}
error_log=${log_file}
pidfile=/var/run/${SYSTEM_NAME}.pid
respawn_delay=5
respawn_max=0

set -o allexport
# shellcheck source=/dev/null
if [ -f /etc/environment ]; then . /etc/environment; fi
# shellcheck source=/dev/null
if [ -f $(sh_quote "${FILE_ENV}") ]; then . $(sh_quote "${FILE_ENV}"); fi
set +o allexport
EOF
}

create_service_file() {
    if [ "${INIT}" = systemd ]; then
        systemd_unit | put_file 0644 "${FILE_SERVICE}" "the systemd unit"
    else
        openrc_script | put_file 0755 "${FILE_SERVICE}" "the openrc script"
        if [ -d "${LOGROTATE_DIR}" ]; then
            printf '/var/log/%s.log {\n\tmissingok\n\tnotifempty\n\tcopytruncate\n}\n' "${SYSTEM_NAME}" |
                put_file 0644 "${FILE_LOGROTATE}" "the logrotate configuration"
        fi
    fi
}

# --- kedge-killall.sh ---
killall_script() {
    cat <<EOF
#!/bin/sh
# Stops kedge and everything it started on this machine: the kedge services, every process
# running ${BIN_KEDGE} (the server or agent and each 'kedge shim') with the containers
# below them; unmounts what is mounted under ${RUN_DIR} and the data directory; deletes
# kedge's network links (kedge0 and its veths, flannel.1) and its nftables tables (kedge*).
# Written by kedge's install.sh.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"

KEDGE_BIN=$(sh_quote "${BIN_KEDGE}")
KEDGE_DATA_DIR=\${KEDGE_DATA_DIR:-$(sh_quote "${DATA_DIR}")}
KEDGE_RUN_DIR=$(sh_quote "${RUN_DIR}")
SYSTEMD_DIR=$(sh_quote "${SYSTEMD_DIR}")
OPENRC_DIR=$(sh_quote "${OPENRC_DIR}")
EOF
    cat <<'EOF'

say() { echo "+ $*"; }

# --- services ---
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for unit in "$SYSTEMD_DIR"/kedge*.service; do
        [ -s "$unit" ] || continue
        say "systemctl stop ${unit##*/}"
        systemctl stop "${unit##*/}"
    done
fi
for script in "$OPENRC_DIR"/kedge*; do
    [ -x "$script" ] || continue
    head -n 1 "$script" | grep -q openrc-run || continue
    say "$script stop"
    "$script" stop
done

# --- processes: those running the kedge binary (found by /proc/<pid>/exe, so no other
# program is matched by name), and everything below them ---
kedge_pids() {
    for dir in /proc/[0-9]*; do
        exe=$(readlink "$dir/exe" 2>/dev/null) || continue
        case "$exe" in
            "$KEDGE_BIN"|"$KEDGE_BIN (deleted)") echo "${dir#/proc/}" ;;
        esac
    done
}

# "pid ppid" for every process.
parents() {
    for stat in /proc/[0-9]*/stat; do
        line=$(cat "$stat" 2>/dev/null) || continue
        rest=${line##*) }
        rest=${rest#* }
        echo "${line%% *} ${rest%% *}"
    done
}

# The given pids and all their descendants.
process_tree() {
    table=$(parents)
    queue=$*
    while [ -n "$queue" ]; do
        pid=${queue%% *}
        queue=${queue#"$pid"}
        queue=${queue# }
        echo "$pid"
        children=$(echo "$table" | awk -v p="$pid" '$2 == p { printf "%s ", $1 }')
        queue="$queue${queue:+ }${children% }"
        queue=${queue% }
    done
}

main_pids=$(kedge_pids | tr '\n' ' ')
if [ -n "$main_pids" ]; then
    # shellcheck disable=SC2086 # a list of pids, split on purpose
    tree=$(process_tree $main_pids | tr '\n' ' ')
    say "kill -TERM $main_pids"
    # shellcheck disable=SC2086
    kill -TERM $main_pids 2>/dev/null
    waited=0
    while [ "$waited" -lt 10 ] && [ -n "$(kedge_pids)" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    alive=
    for pid in $tree; do
        # A zombie has exited already: only its parent's wait is missing.
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        state=${stat##*) }
        [ "${state%% *}" = Z ] || alive="$alive $pid"
    done
    if [ -n "$alive" ]; then
        say "kill -KILL$alive"
        # shellcheck disable=SC2086
        kill -KILL $alive 2>/dev/null
    fi
fi

# --- mounts under the runtime and data directories, deepest first ---
unmount_under() {
    awk -v dir="$1" '$2 == dir || index($2, dir "/") == 1 { print $2 }' /proc/self/mounts |
        sort -r |
        while read -r mount; do
            say "umount $mount"
            umount -f "$mount" 2>/dev/null || umount -l "$mount"
        done
}
unmount_under "$KEDGE_RUN_DIR"
unmount_under "$KEDGE_DATA_DIR"
if [ -d "$KEDGE_RUN_DIR" ]; then
    say "rm -rf $KEDGE_RUN_DIR"
    rm -rf "$KEDGE_RUN_DIR"
fi

# --- network links ---
if command -v ip >/dev/null 2>&1; then
    for link in $(ip -o link show master kedge0 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1) \
        $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1 | grep '^kedge' | grep -vx kedge0) \
        kedge0 flannel.1; do
        if ip link show dev "$link" >/dev/null 2>&1; then
            say "ip link delete $link"
            ip link delete "$link"
        fi
    done
fi

# --- nftables tables named kedge* ---
if command -v nft >/dev/null 2>&1; then
    nft list tables 2>/dev/null | while read -r _ family name; do
        case "$name" in
            kedge*)
                say "nft delete table $family $name"
                nft delete table "$family" "$name"
                ;;
        esac
    done
elif [ -x "$KEDGE_BIN" ]; then
    # kedge programs nf_tables over netlink and needs no nft command: it deletes its tables.
    say "$KEDGE_BIN delete-nftables"
    "$KEDGE_BIN" delete-nftables || true
fi
exit 0
EOF
}

create_killall() {
    killall_script | put_file 0755 "${KILLALL_SH}" "the killall script"
}

# --- kedge[-agent]-uninstall.sh ---
uninstall_script() {
    cat <<EOF
#!/bin/sh
# Uninstalls the ${SYSTEM_NAME} service: runs kedge-killall.sh, removes the service, and,
# when no other kedge service remains, the binary, its links, the configuration, the runtime
# state and the data directory. Written by kedge's install.sh.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"

SYSTEM_NAME=$(sh_quote "${SYSTEM_NAME}")
BIN_DIR=$(sh_quote "${BIN_DIR}")
KILLALL_SH=$(sh_quote "${KILLALL_SH}")
UNINSTALL_SH=$(sh_quote "${UNINSTALL_SH}")
FILE_SERVICE=$(sh_quote "${FILE_SERVICE}")
FILE_ENV=$(sh_quote "${FILE_ENV}")
FILE_LOGROTATE=$(sh_quote "${FILE_LOGROTATE}")
SYSTEMD_DIR=$(sh_quote "${SYSTEMD_DIR}")
OPENRC_DIR=$(sh_quote "${OPENRC_DIR}")
CONFIG_DIR=$(sh_quote "${CONFIG_DIR}")
KEDGE_RUN_DIR=$(sh_quote "${RUN_DIR}")
KEDGE_DATA_DIR=\${KEDGE_DATA_DIR:-$(sh_quote "${DATA_DIR}")}
EOF
    cat <<'EOF'

say() { echo "+ $*"; }
remove() {
    for path in "$@"; do
        case "$path" in
            ""|/) continue ;;
        esac
        if [ -e "$path" ] || [ -L "$path" ]; then
            say "rm -rf $path"
            rm -rf "$path"
        fi
    done
}

[ -x "$KILLALL_SH" ] && "$KILLALL_SH"

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable "$SYSTEM_NAME" 2>/dev/null
    systemctl reset-failed "$SYSTEM_NAME" 2>/dev/null
    remove "$FILE_SERVICE" "$FILE_ENV"
    systemctl daemon-reload
fi
if command -v rc-update >/dev/null 2>&1; then
    rc-update delete "$SYSTEM_NAME" default 2>/dev/null
fi
remove "$FILE_SERVICE" "$FILE_ENV"
[ -n "$FILE_LOGROTATE" ] && remove "$FILE_LOGROTATE"
trap 'remove "$UNINSTALL_SH"' EXIT

for other in "$SYSTEMD_DIR"/kedge*.service "$OPENRC_DIR"/kedge*; do
    if [ -f "$other" ]; then
        echo "Another kedge service remains ($other): keeping the kedge binary, configuration and data"
        exit 0
    fi
done

for cmd in kubectl crictl ctr; do
    if [ -L "$BIN_DIR/$cmd" ] && [ "$(readlink "$BIN_DIR/$cmd")" = kedge ]; then
        remove "$BIN_DIR/$cmd"
    fi
done

# Never delete through a mount: killall unmounted everything below these directories.
for dir in "$KEDGE_RUN_DIR" "$KEDGE_DATA_DIR"; do
    if awk -v dir="$dir" '$2 == dir || index($2, dir "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
        echo "Something is still mounted under $dir: unmount it, then run $UNINSTALL_SH again" >&2
        trap - EXIT
        exit 1
    fi
done
remove "$CONFIG_DIR" "$KEDGE_RUN_DIR" "$KEDGE_DATA_DIR" "$BIN_DIR/kedge" "$KILLALL_SH"
EOF
}

create_uninstall() {
    uninstall_script | put_file 0755 "${UNINSTALL_SH}" "the uninstall script"
}

# --- checks of the host that install.sh can do in one line ---
warn_memory_cgroup() {
    if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        return
    fi
    if awk '$1 == "memory" && $4 == "1" { found = 1 } END { exit !found }' /proc/cgroups 2>/dev/null; then
        return
    fi
    if grep -qs '^Raspberry Pi' /proc/device-tree/model; then
        cmdline=/boot/cmdline.txt
        [ -f /boot/firmware/cmdline.txt ] && cmdline=/boot/firmware/cmdline.txt
        warn "The memory cgroup is disabled, and pods cannot get memory limits: append 'cgroup_memory=1 cgroup_enable=memory' to the single line in ${cmdline}, then reboot"
    else
        warn "The memory cgroup is disabled, and pods cannot get memory limits: add 'cgroup_memory=1 cgroup_enable=memory' to the kernel command line (GRUB: GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub), then reboot"
    fi
    warn "'kedge check-config' checks everything else kedge needs"
}

# --- enable and start ---
systemd_running() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

service_enable_and_start() {
    POST_INSTALL_HASHES=$(installed_hashes)
    if [ "${PRE_INSTALL_HASHES}" = "${POST_INSTALL_HASHES}" ]; then
        CHANGED=false
        info "No change to the binary, the unit or the environment: ${SYSTEM_NAME} needs no restart"
    else
        CHANGED=true
        info "The binary, the unit or the environment changed: ${SYSTEM_NAME} needs a restart"
    fi

    if [ "${INSTALL_KEDGE_SKIP_ENABLE}" = true ]; then
        info "Not enabling or starting ${SYSTEM_NAME} (INSTALL_KEDGE_SKIP_ENABLE=true)"
        return
    fi
    if [ "${INIT}" = systemd ]; then
        if ! systemd_running; then
            warn "systemd is not running: not enabling or starting ${SYSTEM_NAME}"
            return
        fi
        info "systemd: enabling ${SYSTEM_NAME}"
        $SUDO systemctl enable "${FILE_SERVICE}" >/dev/null
        $SUDO systemctl daemon-reload >/dev/null
    else
        info "openrc: enabling ${SYSTEM_NAME} in the default runlevel"
        $SUDO rc-update add "${SYSTEM_NAME}" default >/dev/null
    fi

    if [ "${INSTALL_KEDGE_SKIP_START}" = true ]; then
        info "Not starting ${SYSTEM_NAME} (INSTALL_KEDGE_SKIP_START=true)"
        return
    fi
    if [ "${CHANGED}" = false ] && [ "${INSTALL_KEDGE_FORCE_RESTART}" != true ]; then
        info "Not restarting ${SYSTEM_NAME}: nothing changed"
        return
    fi
    info "Starting ${SYSTEM_NAME}"
    if [ "${INIT}" = systemd ]; then
        $SUDO systemctl restart "${SYSTEM_NAME}"
    else
        $SUDO "${FILE_SERVICE}" restart
    fi
}

# --- INSTALL_KEDGE_EXEC's words, then the script's arguments ---
# shellcheck disable=SC2086 # INSTALL_KEDGE_EXEC is split into words on purpose (globbing is off)
set -- ${INSTALL_KEDGE_EXEC} "$@"

{
    setup_env "$@"
    download_and_verify
    create_symlinks
    create_killall
    create_uninstall
    create_env_file
    create_service_file
    warn_memory_cgroup
    service_enable_and_start
    info "Installed $("${BIN_KEDGE}" --version 2>/dev/null || echo kedge) as ${SYSTEM_NAME}; uninstall with ${UNINSTALL_SH}"
}
