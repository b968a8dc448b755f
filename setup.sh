#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for this project: system packages and a Python venv.
#   ./setup.sh          the pipeline's packages
#   ./setup.sh --test   also the test tools
# Safe to rerun: installed packages are kept.
set -euo pipefail
cd "$(dirname "$0")"

extras="slurm"
[[ "${1:-}" == "--test" ]] && extras="slurm,test"

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v fluidsynth >/dev/null || need_apt+=(fluidsynth)
[[ -f /usr/share/sounds/sf2/TimGM6mb.sf2 ]] || need_apt+=(timgm6mb-soundfont)
# The tests open the HTML report in a real (headless) browser.
[[ "$extras" == *test* ]] && ! command -v chromium >/dev/null && need_apt+=(chromium)
# The SLURM test starts a throwaway one-node cluster (its own munge key, config and ports).
if [[ "$extras" == *test* ]]; then
    command -v slurmctld >/dev/null || need_apt+=(slurmctld)
    command -v slurmd >/dev/null || need_apt+=(slurmd)
    command -v sbatch >/dev/null || need_apt+=(slurm-client)
    command -v munged >/dev/null || need_apt+=(munge)
fi
if ((${#need_apt[@]})); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "setup: installing Debian packages: ${need_apt[*]}"
    $sudo apt-get update -qq
    # --no-install-recommends: fluidsynth's recommends drag in Qt and GTK
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras}"
if [[ ! -f "$stamp" ]]; then
    echo "setup: installing Python packages into .venv (torch is large: a few minutes)"
    # pip's notes about this machine's package mirror are noise; its errors still show.
    .venv/bin/python -m pip install -q -e ".[${extras}]" 2>&1 \
        | { grep -v -e "^WARNING: Location" -e "BuildBackendWarning" || true; }
    rm -f .venv/.installed-*
    touch "$stamp"
fi
echo "setup: ready"
