# Sourced by the fault cases that need a full disk.
# small_fs DIR SIZE: mounts a tmpfs of SIZE on DIR, unmounted when the case
# ends; returns 1 (mounting nothing) where mounting is not permitted, and
# the case then injects the error instead (MOE_CKPT_INJECT_WRITE_ERROR).
# grow_fs DIR SIZE: resizes it, as an operator freeing space would.
SMALL_FS_MOUNTS=""
small_fs() {
  mkdir -p "$1" || return 1
  [ "${MOE_FAULT_NO_MOUNT:-0}" = 1 ] && return 1  # to try the fallback where mount works
  mount -t tmpfs -o size="$2" tmpfs "$1" 2>/dev/null || return 1
  SMALL_FS_MOUNTS="$SMALL_FS_MOUNTS $1"
  trap 'for m in $SMALL_FS_MOUNTS; do umount -l "$m" 2>/dev/null; done; cleanup' EXIT
}
grow_fs() { mount -o remount,size="$2" "$1" || fail "cannot resize the tmpfs on $1"; }
# no_tmp_left ROOT: no .tmp_step_* under a checkpoint root.
no_tmp_left() {
  ! compgen -G "$1/.tmp_*" >/dev/null || fail "a temporary directory is left under $1: $(ls -a "$1" | tr '\n' ' ')"
}
