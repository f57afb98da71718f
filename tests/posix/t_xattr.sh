#!/usr/bin/env bash
# shellcheck disable=SC2317  # the c_* case bodies are called indirectly, by tcase
# Extended attributes in the user.* namespace, set and read with setfattr/getfattr (Debian
# package "attr"); errno values through posixhelper.py. Every case is skipped when the attr
# tools are not installed.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
posix_category xattr "${1:-}"

need_attr() {
  require_cmd setfattr "Debian package attr"
  require_cmd getfattr "Debian package attr"
}

# gx NAME PATH: the value of one attribute, as text
gx() { getfattr --absolute-names --only-values -n "$1" -- "$2"; }

c_set_get() {
  need_attr
  mkfile f
  setfattr -n user.color -v blue f
  eq "$(gx user.color f)" blue "getfattr user.color"
  eq "$(ph getxattr f user.color)" blue "getxattr(2) user.color"
}
tcase set_get "setfattr stores a user.* attribute that getfattr reads back"

c_list() {
  need_attr
  mkfile f
  setfattr -n user.a -v 1 f
  setfattr -n user.b -v 2 f
  setfattr -n user.c -v 3 f
  eq "$(getfattr --absolute-names -d -m '^user\.' f | grep -v '^#' | grep -v '^$' | sort | tr '\n' ' ')" \
     'user.a="1" user.b="2" user.c="3" ' "getfattr -d"
  eq "$(ph listxattr f)" "user.a user.b user.c" "listxattr(2)"
}
tcase list "listxattr/getfattr -d list every user.* attribute with its value"

c_none() {
  need_attr
  mkfile f
  eq "$(getfattr --absolute-names -d -m '^user\.' f)" "" "getfattr -d of a file without attributes"
  eq "$(ph listxattr f)" "" "listxattr(2)"
  expect ENODATA getxattr f user.missing
}
tcase none "a new file has no user.* attributes; reading a missing one is ENODATA"

c_replace() {
  need_attr
  mkfile f
  setfattr -n user.k -v first f
  setfattr -n user.k -v second-longer-value f
  eq "$(gx user.k f)" second-longer-value "value after replacing"
  setfattr -n user.k -v x f
  eq "$(gx user.k f)" x "value after replacing with a shorter one"
}
tcase replace "setting an attribute again replaces its value"

c_remove() {
  need_attr
  mkfile f
  setfattr -n user.k -v v f
  setfattr -n user.other -v o f
  setfattr -x user.k f
  expect ENODATA getxattr f user.k
  eq "$(ph listxattr f)" user.other "listxattr after removal"
  expect ENODATA removexattr f user.k
}
tcase remove "setfattr -x removes an attribute; removing it again is ENODATA"

c_binary() {
  need_attr
  mkfile f
  setfattr -n user.bin -v 0x00ff10200a0d7f f
  eq "$(getfattr --absolute-names -e hex -n user.bin f | grep '^user.bin=')" "user.bin=0x00ff10200a0d7f" "getfattr -e hex"
  eq "$(ph getxattr f user.bin)" "hex:00ff10200a0d7f" "getxattr(2)"
}
tcase binary "binary values (NUL, 0xff, newline) are kept byte for byte"

c_empty_value() {
  need_attr
  mkfile f
  expect OK setxattr f user.empty ""
  eq "$(ph getxattr f user.empty)" "" "value of user.empty"
  eq "$(ph listxattr f)" user.empty "listxattr"
}
tcase empty_value "an attribute with an empty value exists and reads back empty"

c_large_value() {
  need_attr
  mkfile f
  local v
  v=$(mkname 2000 v)
  setfattr -n user.big -v "$v" f
  eq "$(gx user.big f)" "$v" "2000-byte value"
}
tcase large_value "a 2000-byte value is kept"

c_dir() {
  need_attr
  mkdir d
  setfattr -n user.d -v dirval d
  eq "$(gx user.d d)" dirval "attribute of a directory"
}
tcase dir "directories carry user.* attributes"

c_survives_rename() {
  need_attr
  mkfile f
  setfattr -n user.k -v kept f
  mv f g
  eq "$(gx user.k g)" kept "attribute after rename"
}
tcase survives_rename "attributes move with the file on rename"

c_hardlink_shared() {
  need_attr
  mkfile f
  ln f g
  setfattr -n user.k -v shared f
  eq "$(gx user.k g)" shared "attribute through the other hard link"
}
tcase hardlink_shared "attributes belong to the inode: visible through every hard link"

c_content_independent() {
  need_attr
  mkfile f "content"
  setfattr -n user.k -v v f
  printf 'more' >>f
  expect OK truncate f 3
  is_content f con
  eq "$(gx user.k f)" v "attribute after writes and truncate"
  is_stat size f 3
}
tcase content_independent "attributes do not change the size and survive writes and truncate"

c_create_flag() {
  need_attr
  mkfile f
  expect OK setxattr f user.k v1 create
  expect EEXIST setxattr f user.k v2 create
  eq "$(gx user.k f)" v1 "value after the failed XATTR_CREATE"
}
tcase create_flag "XATTR_CREATE on an existing attribute is EEXIST"

c_replace_flag() {
  need_attr
  mkfile f
  expect ENODATA setxattr f user.k v replace
  expect ENODATA getxattr f user.k
  expect OK setxattr f user.k v1
  expect OK setxattr f user.k v2 replace
  eq "$(gx user.k f)" v2 "value after XATTR_REPLACE"
}
tcase replace_flag "XATTR_REPLACE of a missing attribute is ENODATA; of an existing one works"

c_symlink_follows() {
  need_attr
  mkfile f
  ln -s f l
  setfattr -n user.k -v via-link l
  eq "$(gx user.k f)" via-link "attribute of the target"
}
tcase symlink_follows "setfattr through a symlink sets the target's attribute"

c_symlink_itself_eperm() {
  need_attr
  ln -s nowhere l
  expect EPERM lsetxattr l user.k v
}
tcase symlink_itself_eperm "user.* attributes on a symlink itself are EPERM"

c_enoent() {
  need_attr
  expect ENOENT setxattr missing user.k v
  expect ENOENT getxattr missing user.k
}
tcase enoent "xattr calls on a missing path are ENOENT"

c_bad_namespace() {
  need_attr
  mkfile f
  expect EOPNOTSUPP setxattr f nonamespace v
  expect EOPNOTSUPP setxattr f bogus.k v
}
tcase bad_namespace "a name without a known namespace prefix is EOPNOTSUPP"

c_name_too_long() {
  need_attr
  mkfile f
  expect ERANGE setxattr f "user.$(mkname 251)" v
  expect OK setxattr f "user.$(mkname 250)" v
}
tcase name_too_long "an attribute name over 255 bytes is ERANGE; 255 bytes works"

c_nobody_readonly_eacces() {
  need_attr
  mkfile f
  chmod 0644 f
  setfattr -n user.k -v root f
  expect_nobody root getxattr f user.k
  expect_nobody EACCES setxattr f user.k nobody
  expect_nobody EACCES removexattr f user.k
  eq "$(gx user.k f)" root "value after the refused writes"
}
tcase nobody_readonly_eacces "uid 65534 reads user.* of a 0644 file but cannot set or remove (EACCES)"

c_nobody_writable() {
  need_attr
  mkfile f
  chmod 0666 f
  expect_nobody OK setxattr f user.k nobody
  eq "$(gx user.k f)" nobody "value set by uid 65534"
}
tcase nobody_writable "uid 65534 sets user.* attributes on a file it may write"

c_nobody_unreadable_eacces() {
  need_attr
  mkfile f
  setfattr -n user.k -v v f
  chmod 0600 f
  expect_nobody EACCES getxattr f user.k
}
tcase nobody_unreadable_eacces "reading user.* of a file uid 65534 may not read is EACCES"

posix_done
