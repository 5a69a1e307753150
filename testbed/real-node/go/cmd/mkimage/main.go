// mkimage writes a one-layer linux/amd64 image as a docker-archive tarball (manifest.json, the
// config and an uncompressed layer), the format `ctr images import` reads. Files get mtime 0 and
// root ownership, so the same inputs always give the same image.
//
//	mkimage -name REPO:TAG -out FILE [-file PATH=LOCAL]... [-dir PATH:MODE]... [-link PATH=TARGET]...
//	        [-entrypoint ARG]... [-cmd ARG]... [-env K=V]...
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type entry struct {
	name     string
	typeflag byte
	mode     int64
	data     []byte
	link     string
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mkimage: "+format+"\n", args...)
	os.Exit(1)
}

func split(s, sep string) (string, string) {
	a, b, ok := strings.Cut(s, sep)
	if !ok || !strings.HasPrefix(a, "/") {
		fail("expected /PATH%sVALUE, got %q", sep, s)
	}
	return strings.TrimPrefix(path.Clean(a), "/"), b
}

func main() {
	var name, out string
	var files, dirs, links, entrypoint, cmd, env list
	flag.StringVar(&name, "name", "", "image name, REPO:TAG")
	flag.StringVar(&out, "out", "", "output tarball")
	flag.Var(&files, "file", "PATH=LOCAL: a local file at PATH, with its mode")
	flag.Var(&dirs, "dir", "PATH:MODE: a directory (octal mode)")
	flag.Var(&links, "link", "PATH=TARGET: a symbolic link")
	flag.Var(&entrypoint, "entrypoint", "an entrypoint argument (repeatable)")
	flag.Var(&cmd, "cmd", "a cmd argument (repeatable)")
	flag.Var(&env, "env", "K=V (repeatable)")
	flag.Parse()
	if name == "" || out == "" || flag.NArg() != 0 {
		fail("usage: mkimage -name REPO:TAG -out FILE [-file PATH=LOCAL]... [-dir PATH:MODE]... [-link PATH=TARGET]... [-entrypoint ARG]... [-cmd ARG]... [-env K=V]...")
	}

	entries := map[string]entry{}
	addParents := func(p string) {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{name: d, typeflag: tar.TypeDir, mode: 0o755}
			}
		}
	}
	for _, d := range dirs {
		p, m := split(d, ":")
		mode, err := strconv.ParseInt(m, 8, 32)
		if err != nil {
			fail("bad mode in %q", d)
		}
		addParents(p)
		entries[p] = entry{name: p, typeflag: tar.TypeDir, mode: mode}
	}
	for _, f := range files {
		p, local := split(f, "=")
		data, err := os.ReadFile(local)
		if err != nil {
			fail("%v", err)
		}
		st, err := os.Stat(local)
		if err != nil {
			fail("%v", err)
		}
		addParents(p)
		entries[p] = entry{name: p, typeflag: tar.TypeReg, mode: int64(st.Mode().Perm()), data: data}
	}
	for _, l := range links {
		p, target := split(l, "=")
		addParents(p)
		entries[p] = entry{name: p, typeflag: tar.TypeSymlink, mode: 0o777, link: target}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)

	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for _, n := range names {
		e := entries[n]
		h := &tar.Header{Typeflag: e.typeflag, Name: e.name, Mode: e.mode, Linkname: e.link,
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if e.typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			fail("%v", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			fail("%v", err)
		}
	}
	if err := tw.Close(); err != nil {
		fail("%v", err)
	}
	layerSum := sha256.Sum256(layer.Bytes())
	layerDigest := "sha256:" + hex.EncodeToString(layerSum[:])

	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(0, 0).UTC().Format(time.RFC3339),
		"config": map[string]any{
			"Entrypoint": []string(entrypoint),
			"Cmd":        []string(cmd),
			"Env":        append([]string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin"}, env...),
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		fail("%v", err)
	}
	configSum := sha256.Sum256(configJSON)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{name}, "Layers": []string{layerName},
	}})
	if err != nil {
		fail("%v", err)
	}

	f, err := os.Create(out)
	if err != nil {
		fail("%v", err)
	}
	aw := tar.NewWriter(f)
	for _, part := range []struct {
		name string
		data []byte
	}{{configName, configJSON}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: part.name, Mode: 0o644, Size: int64(len(part.data)),
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := aw.WriteHeader(h); err != nil {
			fail("%v", err)
		}
		if _, err := aw.Write(part.data); err != nil {
			fail("%v", err)
		}
	}
	if err := aw.Close(); err != nil {
		fail("%v", err)
	}
	if err := f.Close(); err != nil {
		fail("%v", err)
	}
}
