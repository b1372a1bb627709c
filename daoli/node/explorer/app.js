// DaoliCloud block explorer: a one-page app over the node's local API (docs/api.md).
//
// Rules this file keeps:
// * Server data reaches the page only through textContent / createElement (the el() helper):
//   never innerHTML. Memos, names and multiaddrs are user text.
// * The token comes from the URL fragment (#token=<64 hex>, never sent to a server or logged),
//   is moved to sessionStorage and removed from the address bar; or from a small form.
// * Live updates read /v1/events with fetch() and a ReadableStream (EventSource cannot send an
//   Authorization header) and reconnect with backoff.
// * Blocks carry only transaction ids; the transactions themselves are in the block's `raw`
//   (canonical CBOR), decoded here to list a block's payload and an account's recent history
//   without one request per transaction. The server's own views stay the reference: the
//   transaction page shows GET /v1/txs/{id}.
"use strict";

(() => {
  const TOKEN_KEY = "daoli.explorer.token";
  const LATEST = 20; // blocks on the overview
  const SCAN_BLOCKS = 500; // blocks an account page scans per step
  const RANGE = 100; // blocks per /v1/blocks range request (the API's limit)
  const LI_PER_DLC = 100000000n;
  const KINDS = {
    1: "transfer", 2: "trustee_join", 3: "trustee_leave", 4: "evidence",
    5: "resource_offer", 6: "resource_order", 7: "lease_close", 8: "usage_receipt",
    9: "offer_cancel",
  };

  const main = document.getElementById("main");
  const notice = document.getElementById("notice");
  const liveBadge = document.getElementById("live");
  const forgetButton = document.getElementById("forget");

  let token = null;
  let view = { kind: "none" }; // what the page shows now; live updates look at it
  let renderSeq = 0;
  let stream = null; // {abort: AbortController} of the running event stream loop

  // --- DOM helpers (text only) ---------------------------------------------------------

  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, kids);
    return node;
  }

  function append(node, kids) {
    for (const kid of kids) {
      if (kid === undefined || kid === null || kid === false) continue;
      if (Array.isArray(kid)) append(node, kid);
      else if (kid instanceof Node) node.appendChild(kid);
      else node.appendChild(document.createTextNode(String(kid)));
    }
  }

  // Only routes of this page ("#/..."), each part URI-encoded: no data becomes a scheme.
  function href(...parts) {
    return "#/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
  }

  function link(text, ...parts) {
    return el("a", { href: href(...parts) }, text);
  }

  function short(hex, head = 10, tail = 6) {
    const s = String(hex);
    return s.length > head + tail + 1 ? s.slice(0, head) + "…" + s.slice(-tail) : s;
  }

  function hashLink(kind, hex) {
    return el("a", { href: href(kind, hex), title: hex, class: "mono" }, short(hex));
  }

  function addrLink(address) {
    if (!address) return "—";
    return el("a", { href: href("account", address), title: address, class: "mono" },
      short(address, 12, 6));
  }

  function kv(pairs) {
    const dl = el("dl", { class: "kv" });
    for (const [label, value, field] of pairs) {
      dl.appendChild(el("dt", {}, label));
      dl.appendChild(el("dd", { "data-field": field }, value));
    }
    return dl;
  }

  function table(headers, rows, attrs) {
    const head = el("tr", {}, headers.map((h) => {
      const num = h.startsWith("#");
      return el("th", { class: num ? "num" : null }, num ? h.slice(1) : h);
    }));
    const body = el("tbody", {}, rows);
    return el("table", attrs || {}, el("thead", {}, head), body);
  }

  function td(value, cls) {
    return el("td", { class: cls }, value);
  }

  function card(title, ...kids) {
    return el("section", { class: "card" }, title ? el("h3", {}, title) : null, kids);
  }

  function emptyRow(cols, text) {
    return el("tr", {}, el("td", { colspan: cols, class: "empty" }, text));
  }

  function tag(text, kind) {
    return el("span", { class: "tag " + (kind || "") }, text);
  }

  function showNotice(text, isError) {
    notice.textContent = text;
    notice.classList.toggle("error", !!isError);
    notice.hidden = !text;
  }

  // Control and bidi characters in user text are shown as \u{...}, so a memo cannot
  // reorder or hide what is displayed around it.
  function visible(text) {
    return String(text).replace(
      /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
      (c) => "\\u{" + c.codePointAt(0).toString(16) + "}");
  }

  // --- formatting ----------------------------------------------------------------------

  function pad(n) { return String(n).padStart(2, "0"); }

  function fmtTime(ms) {
    if (typeof ms !== "number") return "—";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function ago(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 0) return "in the future";
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  }

  function timeCell(ms) {
    return el("span", { title: typeof ms === "number" ? ago(ms) : null }, fmtTime(ms));
  }

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  // An exact amount of li (number or BigInt) as DLC text: "1.5 DLC".
  function dlc(li) {
    let v = BigInt(li);
    const neg = v < 0n;
    if (neg) v = -v;
    const whole = group((v / LI_PER_DLC).toString());
    const frac = (v % LI_PER_DLC).toString().padStart(8, "0").replace(/0+$/, "");
    return (neg ? "-" : "") + whole + (frac ? "." + frac : "") + " DLC";
  }

  // A server's *_dlc decimal string (exact, ungrouped) as "1,000.5 DLC".
  function dlcText(text) {
    const [whole, frac] = String(text).split(".");
    return group(whole) + (frac ? "." + frac : "") + " DLC";
  }

  // The exact li of a *_dlc string, grouped: JSON numbers lose precision past 2^53 li.
  function liText(text) {
    const [whole, frac = ""] = String(text).split(".");
    try {
      return group((BigInt(whole) * LI_PER_DLC + BigInt(frac.padEnd(8, "0"))).toString());
    } catch (_) {
      return "?";
    }
  }

  function plural(n, word) {
    return `${num(n)} ${word}${n === 1 ? "" : "s"}`;
  }

  function num(n) {
    return typeof n === "number" ? group(String(n)) : String(n ?? "—");
  }

  // --- codec: hex, SHA-256, bech32m addresses, canonical CBOR -------------------------

  function hexToBytes(hex) {
    if (typeof hex !== "string" || hex.length % 2 || /[^0-9a-fA-F]/.test(hex)) {
      throw new Error("not hex");
    }
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    let s = "";
    for (const b of bytes) s += b.toString(16).padStart(2, "0");
    return s;
  }

  const K256 = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);

  // SHA-256 in plain JS: crypto.subtle exists only in secure contexts, and a node's API is
  // often plain http on a LAN address. Only public keys (33 bytes) are hashed here.
  function sha256(data) {
    const len = data.length;
    const padded = ((len + 9 + 63) >> 6) << 6;
    const buf = new Uint8Array(padded);
    buf.set(data);
    buf[len] = 0x80;
    const dv = new DataView(buf.buffer);
    dv.setUint32(padded - 8, Math.floor(len / 0x20000000));
    dv.setUint32(padded - 4, (len << 3) >>> 0);
    const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    const w = new Uint32Array(64);
    const ror = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < padded; off += 64) {
      for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + 4 * i);
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15], b = w[i - 2];
        const s0 = ror(a, 7) ^ ror(a, 18) ^ (a >>> 3);
        const s1 = ror(b, 17) ^ ror(b, 19) ^ (b >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const t1 = (hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
          K256[i] + w[i]) >>> 0;
        const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }
    const out = new Uint8Array(32);
    const odv = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) odv.setUint32(4 * i, h[i]);
    return out;
  }

  const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  const GEN = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

  function polymod(values) {
    let chk = 1;
    for (const v of values) {
      const top = chk >>> 25;
      chk = ((chk & 0x1ffffff) << 5) ^ v;
      for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GEN[i];
    }
    return chk >>> 0;
  }

  // The dlc1 text of a 20-byte address (bech32m, as daoli/core/address.py).
  function encodeAddress(bytes) {
    const hrp = "dlc";
    const data = [];
    let acc = 0, bits = 0;
    for (const v of bytes) {
      acc = ((acc << 8) | v) & 0xfff;
      bits += 8;
      while (bits >= 5) { bits -= 5; data.push((acc >>> bits) & 31); }
    }
    if (bits) data.push((acc << (5 - bits)) & 31);
    const expand = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0],
      [...hrp].map((c) => c.charCodeAt(0) & 31));
    const pm = (polymod(expand.concat(data, [0, 0, 0, 0, 0, 0])) ^ 0x2bc830a3) >>> 0;
    const check = [0, 1, 2, 3, 4, 5].map((i) => (pm >>> (5 * (5 - i))) & 31);
    return hrp + "1" + data.concat(check).map((d) => CHARSET[d]).join("");
  }

  const addressCache = new Map();

  // A compressed public key's address: the first 20 bytes of its SHA-256.
  function addressOf(pubkey) {
    const key = bytesToHex(pubkey);
    let a = addressCache.get(key);
    if (!a) {
      a = encodeAddress(sha256(pubkey).subarray(0, 20));
      if (addressCache.size > 10000) addressCache.clear();
      addressCache.set(key, a);
    }
    return a;
  }

  // The plain CBOR subset the protocol writes: ints (BigInt past 2^53), byte and text
  // strings, arrays, maps, false/true/null. Anything else is an error, not a guess.
  function cborDecode(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const utf8 = new TextDecoder("utf-8", { fatal: true });
    let pos = 0;
    const need = (n) => {
      if (n > bytes.length - pos) throw new Error("truncated CBOR");
    };
    const arg = (info) => {
      if (info < 24) return info;
      if (info === 24) { need(1); return bytes[pos++]; }
      if (info === 25) { need(2); pos += 2; return dv.getUint16(pos - 2); }
      if (info === 26) { need(4); pos += 4; return dv.getUint32(pos - 4); }
      if (info === 27) {
        need(8);
        pos += 8;
        const v = dv.getBigUint64(pos - 8);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      throw new Error("unsupported CBOR head");
    };
    const length = (n) => {
      if (typeof n !== "number" || n > bytes.length - pos) throw new Error("CBOR length past the end");
      return n;
    };
    const item = (depth) => {
      if (depth > 40) throw new Error("CBOR nested too deep");
      need(1);
      const ib = bytes[pos++];
      const major = ib >> 5, info = ib & 31;
      if (major === 7) {
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        throw new Error("unsupported CBOR simple value");
      }
      const n = arg(info);
      switch (major) {
        case 0: return n;
        case 1: return typeof n === "bigint" ? -1n - n : -1 - n;
        case 2: { const l = length(n); pos += l; return bytes.subarray(pos - l, pos); }
        case 3: { const l = length(n); pos += l; return utf8.decode(bytes.subarray(pos - l, pos)); }
        case 4: {
          const l = length(n);
          const out = [];
          for (let i = 0; i < l; i++) out.push(item(depth + 1));
          return out;
        }
        case 5: {
          const l = length(n);
          const out = new Map();
          for (let i = 0; i < l; i++) { const k = item(depth + 1); out.set(k, item(depth + 1)); }
          return out;
        }
        default: throw new Error("unsupported CBOR item (tag)");
      }
    };
    const value = item(0);
    if (pos !== bytes.length) throw new Error("bytes after the CBOR item");
    return value;
  }

  // A transaction's fields [1, chain_id, kind, sender_pubkey, nonce, fee, body, sig].
  function txOfFields(f, id) {
    if (!Array.isArray(f) || f.length !== 8 || f[0] !== 1) throw new Error("not a transaction");
    const tx = {
      id, kind: f[2], type: KINDS[f[2]] || `kind ${f[2]}`, sender: addressOf(f[3]),
      nonce: f[4], fee: f[5], body: f[6],
    };
    if (f[2] === 1 && Array.isArray(f[6]) && f[6].length === 3) {
      tx.to = encodeAddress(f[6][0]);
      tx.amount = f[6][1];
      tx.memo = f[6][2];
    }
    return tx;
  }

  // The payload of a Block view: its raw [6, header, [tx...], [ticket...], last_commit],
  // paired with the view's transaction ids (same order).
  function payloadOf(block) {
    const f = cborDecode(hexToBytes(block.raw));
    if (!Array.isArray(f) || f.length !== 5 || f[0] !== 6 || !Array.isArray(f[2])) {
      throw new Error("not a block");
    }
    if (f[2].length !== block.txs.length) throw new Error("payload does not match the ids");
    return f[2].map((t, i) => txOfFields(t, block.txs[i]));
  }

  function memoText(bytes) {
    return visible(new TextDecoder("utf-8", { fatal: false }).decode(bytes));
  }

  // --- the API -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // Relative paths ("v1/status"): the API is on the same node, under the same prefix.
  async function api(path, signal) {
    const used = token;
    if (!used) throw new ApiError(401, "unauthorized", "no API token");
    let r;
    try {
      r = await fetch(path, {
        headers: { Authorization: "Bearer " + used }, cache: "no-store", signal,
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "the node does not answer (is it running?)");
    }
    let body = null;
    try { body = JSON.parse(await r.text()); } catch (_) { body = null; }
    if (r.status === 401) {
      if (token === used) askToken("The node refused the API token. Give the current one.");
      throw new ApiError(401, "unauthorized", "the API token was refused");
    }
    if (!r.ok) {
      const msg = body && typeof body.error === "string" ? body.error : `HTTP ${r.status}`;
      throw new ApiError(r.status, body && body.code, msg);
    }
    return body;
  }

  // Blocks from..to (inclusive) in as many range requests as the API's limits need.
  async function blocksRange(from, to, onChunk) {
    const all = [];
    let next = Math.max(1, from);
    while (next <= to) {
      const end = Math.min(to, next + RANGE - 1);
      const got = (await api(`v1/blocks?from=${next}&to=${end}`)).blocks;
      if (!got.length) break;
      all.push(...got);
      if (onChunk) onChunk(got);
      next = got[got.length - 1].height + 1;
    }
    return all;
  }

  // --- token ---------------------------------------------------------------------------

  const TOKEN_RE = /^[0-9a-fA-F]{64}$/;

  // #token=<64 hex> (optionally followed by &<route>, e.g. #token=..&/block/5): kept in
  // sessionStorage, then removed from the address bar and the history entry.
  function takeTokenFromFragment() {
    const m = /^#token=([0-9a-fA-F]{64})(?:&(.*))?$/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, m[1].toLowerCase());
    const rest = m[2] && m[2].startsWith("/") ? "#" + m[2] : "#/";
    history.replaceState(null, "", location.pathname + location.search + rest);
  }

  function askToken(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    stopStream();
    forgetButton.hidden = true;
    renderSeq++;
    const shown = document.getElementById("token-error");
    if (view.kind === "token" && shown) { // several requests may be refused at once
      shown.textContent = message || "";
      return;
    }
    view = { kind: "token" };
    const input = el("input", {
      id: "token-input", type: "password", autocomplete: "off", spellcheck: "false",
      placeholder: "64 hex characters", "aria-label": "API token",
    });
    const error = el("p", { class: "error", id: "token-error" }, message || "");
    const form = el("form", { id: "token-form", class: "token" },
      el("label", { for: "token-input" }, "API token of this node"),
      el("div", { class: "row" }, input, el("button", { type: "submit" }, "Open")),
      error,
      el("p", { class: "note" },
        "The explorer reads this node's API, which needs its token: the first line of ",
        el("code", {}, "<home>/api_token"),
        ". You can also open the explorer as ",
        el("code", {}, "/explorer#token=<token>"),
        " (the fragment never leaves the browser). The token is kept in this tab's session " +
        "storage only."));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = input.value.trim();
      if (!TOKEN_RE.test(value)) {
        error.textContent = "A token is 64 hex characters (0-9, a-f).";
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value.toLowerCase());
      start();
    });
    main.replaceChildren(el("h2", {}, "Open the explorer"), card(null, form));
    input.focus();
  }

  // --- live updates (server-sent events over fetch) ------------------------------------

  function setLive(state, text) {
    liveBadge.dataset.state = state;
    liveBadge.textContent = text;
  }

  function stopStream() {
    if (stream) stream.abort.abort();
    stream = null;
    setLive("off", "offline");
  }

  function sleep(ms, signal) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }

  async function runStream() {
    const mine = { abort: new AbortController() };
    stream = mine;
    const signal = mine.abort.signal;
    let backoff = 1000;
    while (!signal.aborted) {
      setLive("connecting", "connecting");
      try {
        const r = await fetch("v1/events", {
          headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
          cache: "no-store", signal,
        });
        if (r.status === 401) {
          askToken("The node refused the API token. Give the current one.");
          return;
        }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        let connected = false;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let m;
          while ((m = /\r?\n\r?\n/.exec(buf))) {
            const chunk = buf.slice(0, m.index);
            buf = buf.slice(m.index + m[0].length);
            if (!connected) {
              connected = true;
              backoff = 1000;
              setLive("live", "live");
              onStreamOpen();
            }
            handleEvent(chunk);
          }
          if (buf.length > 4 << 20) throw new Error("an event over 4 MiB");
        }
      } catch (err) {
        if (signal.aborted) return;
      }
      if (signal.aborted) return;
      // The stream ended (node stopping, or this reader fell behind): try again later.
      setLive("reconnecting", `reconnecting in ${Math.round(backoff / 1000)} s`);
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 30000);
    }
  }

  function handleEvent(chunk) {
    let name = "message";
    const data = [];
    for (const line of chunk.split(/\r?\n/)) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? "" : line.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join("\n")); } catch (_) { return; }
    if (name === "block") onBlockEvent(payload);
    else if (name === "tx") onTxEvent(payload);
  }

  function onStreamOpen() {
    // (Re)connected: catch up with whatever was finalized while the stream was down.
    if (view.kind === "home") view.refreshBlocks(Infinity);
  }

  function onBlockEvent(ev) {
    if (view.kind === "home" && typeof ev.height === "number") view.refreshBlocks(ev.height);
  }

  function onTxEvent(ev) {
    if (view.kind === "tx" && view.pending && ev.id === view.id) route();
  }

  // --- pages -----------------------------------------------------------------------------

  function blockRow(b) {
    const w = b.winner || {};
    return el("tr", { "data-height": b.height, "data-id": b.id },
      td(link(num(b.height), "block", b.height), "num"),
      td(hashLink("block", b.id)),
      td(timeCell(b.time_ms)),
      td([addrLink(w.miner), el("span", { class: "sub" },
        `cycle ${num(w.cycle)} · nonce ${num(w.nonce)}`)]),
      td(num(b.n_txs), "num"),
      td(num((b.payroll || []).length), "num"),
      td(num(b.size), "num"));
  }

  function statusCard(s) {
    const state = s.syncing ? tag("syncing", "warn") : tag("in sync", "good");
    return el("section", { class: "card", id: "status" },
      el("h3", {}, "Chain ", state),
      kv([
        ["Chain id", s.chain_id, "chain_id"],
        ["Height", num(s.height), "height"],
        ["Tip", s.tip_id ? hashLink("block", s.tip_id) : "—", "tip_id"],
        ["Tip time", s.tip_time_ms ? [fmtTime(s.tip_time_ms), ` (${ago(s.tip_time_ms)})`] : "—",
          "tip_time"],
        ["Cycle", `${num(s.cycle)} (genesis cycle ${num(s.cycle_ms)} ms` +
          (s.gc_cycle_ms ? `, observed ${num(s.gc_cycle_ms)} ms)` : ")"), "cycle"],
        ["Round", num(s.round), "round"],
        ["Trustees", `${num(s.trustees)} active` + (s.trustee ? " (this node is one)" : ""),
          "trustees"],
        ["Mempool", plural(s.mempool, "transaction"), "mempool"],
        ["Min fee / bond", `${dlc(s.min_fee)} / ${dlc(s.min_bond)}`, "min"],
        ["Genesis id", el("span", { class: "mono", title: s.genesis_id }, short(s.genesis_id)),
          "genesis_id"],
        ["Version", s.version, "version"],
      ]));
  }

  function nodeCard(s, peers) {
    const rows = peers.map((p) => el("tr", {},
      td(el("span", { class: "mono", title: p.peer_id }, short(p.peer_id, 14, 6))),
      td((p.addrs || []).map((a) => el("div", { class: "mono" }, a))),
      td(p.direction || "—")));
    return el("section", { class: "card", id: "peers" },
      el("h3", {}, "This node and its peers"),
      kv([
        ["Peer id", el("span", { class: "mono" }, s.peer_id), "peer_id"],
        ["Listening", (s.listen || []).map((a) => el("div", { class: "mono" }, a)), "listen"],
        ["Peers", num(peers.length), "peers"],
      ]),
      table(["Peer", "Addresses", "Direction"],
        rows.length ? rows : [emptyRow(3, "No peers connected.")], { id: "peer-table" }));
  }

  async function renderHome(seq) {
    const [status, peers] = await Promise.all([api("v1/status"), api("v1/peers")]);
    const tip = status.height;
    const blocks = tip > 0 ? await blocksRange(Math.max(1, tip - LATEST + 1), tip) : [];
    if (seq !== renderSeq) return null;
    const tbody = el("tbody", {}, blocks.reverse().map(blockRow));
    if (!blocks.length) tbody.appendChild(emptyRow(7, "No block is finalized yet."));
    const blocksTable = el("table", { id: "blocks" },
      el("thead", {}, el("tr", {}, ["#Height", "Block", "Time", "Winner (miner, ticket)",
        "#Txs", "#Payroll", "#Size"].map((h) => h.startsWith("#")
        ? el("th", { class: "num" }, h.slice(1)) : el("th", {}, h)))),
      tbody);
    const grid = el("div", { class: "grid" }, statusCard(status), nodeCard(status, peers.peers));
    const page = [el("h2", {}, "Overview"), grid,
      el("section", { class: "card", id: "latest" },
        el("h3", {}, "Latest blocks"),
        el("p", { class: "note" }, "New blocks appear here as they are finalized."),
        blocksTable)];

    let shown = blocks.length ? blocks[0].height : 0; // highest height in the table
    let wanted = 0;
    let busy = false;
    let statusAt = 0;
    let statusTimer = null;
    const showStatus = async () => {
      statusTimer = null;
      const st = await api("v1/status");
      statusAt = Date.now();
      const old = document.getElementById("status");
      if (view.seq === seq && old) old.replaceWith(statusCard(st));
      return st;
    };
    // The status card follows the blocks: at most once a second, and once after the last.
    const scheduleStatus = () => {
      if (statusTimer || view.seq !== seq) return;
      statusTimer = setTimeout(() => showStatus().catch(() => {}),
        Math.max(0, 1000 - (Date.now() - statusAt)));
    };
    // Blocks up to `height` (Infinity: up to the tip, after a reconnect) join the table,
    // fetched by range: a burst of events costs one request, and a gap is filled.
    const refreshBlocks = async (height) => {
      if (height === Infinity) {
        try { height = (await showStatus()).height; } catch (_) { return; }
      }
      wanted = Math.max(wanted, height);
      scheduleStatus();
      if (busy) return;
      busy = true;
      try {
        while (view.seq === seq && wanted > shown) {
          const target = wanted;
          const from = Math.max(shown + 1, target - LATEST + 1);
          const got = await blocksRange(from, target);
          if (view.seq !== seq) return;
          for (const b of got) {
            if (b.height <= shown) continue;
            const row = blockRow(b);
            row.classList.add("fresh");
            tbody.insertBefore(row, tbody.firstChild);
            shown = b.height;
          }
          for (const extra of [...tbody.querySelectorAll("tr")].slice(LATEST)) extra.remove();
          const empty = tbody.querySelector("td.empty");
          if (empty) empty.parentNode.remove();
          if (!got.length) break;
        }
      } catch (err) {
        if (err.status !== 401) console.warn("explorer: live update failed:", err.message);
      } finally {
        busy = false;
      }
    };
    view = { kind: "home", seq, refreshBlocks };
    return page;
  }

  function ticketKv(t, prefix) {
    return kv([
      ["Miner", addrLink(t.miner), prefix + "miner"],
      ["Sponsor", addrLink(t.sponsor), prefix + "sponsor"],
      ["Cycle", num(t.cycle), prefix + "cycle"],
      ["Nonce", num(t.nonce), prefix + "nonce"],
      ["Time", timeCell(t.time_ms), prefix + "time"],
    ]);
  }

  async function renderBlock(seq, ref) {
    const [b, status] = await Promise.all([api(`v1/blocks/${encodeURIComponent(ref)}`),
      api("v1/status")]);
    if (seq !== renderSeq) return null;
    view = { kind: "block", seq };
    let payload = null;
    let decodeError = null;
    try { payload = payloadOf(b); } catch (err) { decodeError = err.message; }

    const pager = el("div", { class: "pager" },
      b.height > 1 ? link(`← block ${num(b.height - 1)}`, "block", b.height - 1) : null,
      b.height < status.height ? link(`block ${num(b.height + 1)} →`, "block", b.height + 1)
        : el("span", { class: "note" }, "the tip"));

    const summary = card("Block", kv([
      ["Height", num(b.height), "height"],
      ["Id", el("span", { class: "mono" }, b.id), "id"],
      ["Parent", b.height > 1 ? hashLink("block", b.parent_id)
        : el("span", { class: "mono", title: "the genesis" }, short(b.parent_id)), "parent_id"],
      ["Time", [fmtTime(b.time_ms), ` (${ago(b.time_ms)})`], "time"],
      ["Cycle", num(b.cycle), "cycle"],
      ["Proposer", addrLink(b.proposer), "proposer"],
      ["Transactions", num(b.n_txs), "n_txs"],
      ["Size", `${num(b.size)} bytes`, "size"],
      ["State root", el("span", { class: "mono" }, b.state_root), "state_root"],
    ]));

    const cert = b.certificate;
    const certCard = el("section", { class: "card", id: "certificate" },
      el("h3", {}, "Commit certificate"),
      cert ? [
        kv([["Round", num(cert.round), "round"],
          ["Signers", plural(cert.signers.length, "trustee"), "n_signers"]]),
        table(["Trustee", "Public key"], cert.signers.map((pk) => {
          let address = null;
          try { address = addressOf(hexToBytes(pk)); } catch (_) { address = null; }
          return el("tr", { class: "signer", "data-pubkey": pk },
            td(addrLink(address)), td(el("span", { class: "mono wrap" }, pk)));
        })),
      ] : el("p", { class: "empty" }, "No certificate is stored with this block."));

    const payloadRows = payload ? payload.map((tx, i) => el("tr", { "data-tx": tx.id },
      td(String(i), "num"),
      td(hashLink("tx", tx.id)),
      td(tx.type),
      td(addrLink(tx.sender)),
      td(tx.to ? addrLink(tx.to) : "—"),
      td(tx.amount !== undefined ? dlc(tx.amount) : "—", "num"),
      td(dlc(tx.fee), "num"))) : b.txs.map((id, i) => el("tr", { "data-tx": id },
      td(String(i), "num"), td(hashLink("tx", id)), td("?"), td("—"), td("—"), td("—", "num"),
      td("—", "num")));
    const payloadCard = el("section", { class: "card", id: "payload" },
      el("h3", {}, `Payload (${plural(b.n_txs, "transaction")})`),
      decodeError ? el("p", { class: "error" },
        `Could not decode the block's raw encoding here (${decodeError}); ids only.`) : null,
      table(["##", "Transaction", "Type", "From", "To", "#Amount", "#Fee"],
        payloadRows.length ? payloadRows : [emptyRow(7, "No transactions.")]));

    const payrollCard = el("section", { class: "card", id: "payroll" },
      el("h3", {}, `Payroll (${plural(b.payroll.length, "ticket")})`),
      table(["Miner", "Sponsor", "#Cycle", "#Nonce", "Time"],
        b.payroll.length ? b.payroll.map((t) => el("tr", {},
          td(addrLink(t.miner)), td(addrLink(t.sponsor)), td(num(t.cycle), "num"),
          td(num(t.nonce), "num"), td(timeCell(t.time_ms))))
          : [emptyRow(5, "Empty payroll.")]));

    return [
      el("h2", { id: "block-title", "data-height": b.height }, `Block ${num(b.height)}`),
      pager,
      el("div", { class: "grid" }, summary,
        el("section", { class: "card", id: "winner" }, el("h3", {}, "Winning ticket"),
          ticketKv(b.winner, "winner_"))),
      el("div", { class: "grid" }, certCard, payrollCard),
      payloadCard,
      el("details", { class: "raw card" }, el("summary", {}, "Raw encoding (hex)"),
        el("pre", {}, b.raw)),
    ];
  }

  function bodyRows(type, body, raw) {
    if (type === "transfer") {
      let amount = body.amount;
      try { // the exact amount (BigInt-safe) from the raw encoding
        const f = cborDecode(hexToBytes(raw));
        amount = f[6][1];
      } catch (_) { /* fall back to the JSON number */ }
      let memo = "";
      let memoHex = body.memo || "";
      try { memo = memoText(hexToBytes(memoHex)); } catch (_) { memoHex = String(memoHex); }
      return kv([
        ["To", addrLink(body.to), "to"],
        ["Amount", [dlc(amount), el("span", { class: "note" }, ` (${num(amount)} li)`)],
          "amount"],
        ["Memo", memoHex ? el("pre", { class: "memo", id: "tx-memo" }, memo)
          : el("span", { class: "empty", id: "tx-memo" }, "(none)"), "memo"],
        ["Memo (hex)", el("span", { class: "mono" }, memoHex || "—"), "memo_hex"],
      ]);
    }
    const pairs = Object.entries(body || {}).map(([k, v]) => {
      let value;
      if (v !== null && typeof v === "object") value = el("pre", { class: "memo" },
        visible(JSON.stringify(v, null, 1)));
      else if (typeof v === "string" && /^dlc1/.test(v)) value = addrLink(v);
      else if (typeof v === "number") value = num(v);
      else value = el("span", { class: "mono" }, visible(v));
      return [k, value, k];
    });
    return pairs.length ? kv(pairs) : el("p", { class: "empty" }, "No fields.");
  }

  async function renderTx(seq, id) {
    const st = await api(`v1/txs/${encodeURIComponent(id)}`);
    if (seq !== renderSeq) return null;
    const tx = st.tx;
    const final = st.status === "final";
    view = { kind: "tx", seq, id: st.id, pending: !final };
    return [
      el("h2", {}, "Transaction"),
      el("div", { class: "grid" },
        card("Envelope", kv([
          ["Id", el("span", { class: "mono" }, st.id), "id"],
          ["Status", final ? tag("final", "good") : tag("pending", "warn"), "status"],
          ["Block", final ? [link(`${num(st.height)}`, "block", st.height),
            ` (index ${num(st.index)})`] : "not yet in a block", "block"],
          ["Type", tx.type, "type"],
          ["Sender", addrLink(tx.sender), "sender"],
          ["Nonce", num(tx.nonce), "nonce"],
          ["Fee", dlcText(tx.fee_dlc), "fee"],
        ])),
        el("section", { class: "card", id: "tx-body" }, el("h3", {}, `Body (${tx.type})`),
          bodyRows(tx.type, tx.body, tx.raw))),
      el("details", { class: "raw card" }, el("summary", {}, "Raw encoding (hex)"),
        el("pre", {}, tx.raw)),
    ];
  }

  async function renderAccount(seq, ref) {
    const acct = await api(`v1/accounts/${encodeURIComponent(ref)}`);
    const status = await api("v1/status");
    if (seq !== renderSeq) return null;
    view = { kind: "account", seq };
    const address = acct.address;
    const tbody = el("tbody", {});
    const progress = el("p", { class: "note", id: "history-range" });
    const mining = el("p", { class: "note", id: "history-mining" });
    const more = el("button", { type: "button", id: "history-more" },
      `Scan ${num(SCAN_BLOCKS)} older blocks`);
    let low = status.height + 1; // lowest height scanned so far
    const top = status.height;
    let found = 0, won = 0, payrolls = 0;

    const scanStep = async () => {
      if (low <= 1) {
        progress.textContent = "No block is finalized yet.";
        more.hidden = true;
        return;
      }
      more.disabled = true;
      const end = low - 1;
      const start = Math.max(1, end - SCAN_BLOCKS + 1);
      progress.textContent = `Scanning blocks ${num(start)}–${num(end)}…`;
      const rows = [];
      try {
        const blocks = await blocksRange(start, end);
        if (view.seq !== seq) return;
        for (const b of blocks.reverse()) {
          if (b.winner && b.winner.miner === address) won++;
          payrolls += (b.payroll || []).filter((t) => t.miner === address).length;
          let txs;
          try { txs = payloadOf(b); } catch (_) { continue; }
          for (const tx of txs) {
            const out = tx.sender === address, inn = tx.to === address;
            if (!out && !inn) continue;
            found++;
            const dir = out && inn ? tag("self") : out ? tag("out", "bad") : tag("in", "good");
            rows.push(el("tr", { "data-tx": tx.id },
              td(link(num(b.height), "block", b.height), "num"),
              td(hashLink("tx", tx.id)), td(tx.type), td(dir),
              td(addrLink(out ? tx.to || null : tx.sender)),
              td(tx.amount !== undefined ? dlc(tx.amount) : "—", "num"),
              td(out ? dlc(tx.fee) : "—", "num"),
              td(tx.memo && tx.memo.length ? el("span", { class: "memo-inline" },
                memoText(tx.memo)) : "")));
          }
        }
        low = start;
      } catch (err) {
        progress.textContent = `Scan failed: ${err.message}`;
        more.disabled = false;
        return;
      }
      append(tbody, rows);
      const placeholder = tbody.querySelector("td.empty");
      if (placeholder && found) placeholder.parentNode.remove();
      if (!found && !placeholder) tbody.appendChild(emptyRow(8, "None in the scanned blocks."));
      progress.textContent = top ? `Transactions from or to this address in blocks ` +
        `${num(low)}–${num(top)} (the last ${num(top - low + 1)} of ${num(top)}). The node ` +
        `keeps no index by address, so the explorer scans blocks${low > 1
          ? "; older ones are not shown until you scan further." : "."}`
        : "No block is finalized yet.";
      mining.textContent = `Mining in these blocks: winner of ${num(won)}, ` +
        `in the payroll ${plural(payrolls, "time")}.`;
      more.disabled = low <= 1;
      more.hidden = low <= 1;
    };
    more.addEventListener("click", scanStep);

    const page = [
      el("h2", {}, "Account"),
      card(null, kv([
        ["Address", el("span", { class: "mono", id: "account-address" }, address), "address"],
        ["Balance", [el("strong", { id: "account-balance" }, dlcText(acct.balance_dlc)),
          el("span", { class: "note" }, ` (${liText(acct.balance_dlc)} li)`)], "balance"],
        ["Nonce", num(acct.nonce), "nonce"],
        ["Next nonce", `${num(acct.next_nonce)} (counting this node's pooled transactions)`,
          "next_nonce"],
      ])),
      el("section", { class: "card", id: "history" },
        el("h3", {}, "Recent history"), progress, mining,
        el("table", { id: "history-table" }, el("thead", {}, el("tr", {},
          ["#Height", "Transaction", "Type", "", "Counterparty", "#Amount", "#Fee", "Memo"]
            .map((h) => h.startsWith("#") ? el("th", { class: "num" }, h.slice(1))
              : el("th", {}, h)))), tbody),
        el("p", {}, more)),
    ];
    scanStep(); // fills the table after the page is shown
    return page;
  }

  async function renderTrustees(seq) {
    const [t, l] = await Promise.all([api("v1/trustees"), api("v1/lineup")]);
    if (seq !== renderSeq) return null;
    view = { kind: "trustees", seq };
    const trows = t.trustees.map((x) => el("tr", { "data-pubkey": x.pubkey },
      td(addrLink(x.address)),
      td(x.active ? tag("active", "good") : tag(x.status)),
      td(dlcText(x.bond_dlc), "num"),
      td(num(x.join_height), "num"),
      td(el("span", { class: "mono" }, visible(x.multiaddr || "—")))));
    const lrows = l.lineup.map((x) => el("tr", {},
      td(addrLink(x.miner)), td(addrLink(x.sponsor)), td(num(x.since), "num"),
      td(num(x.until), "num")));
    return [
      el("h2", {}, "Trustees and lineup"),
      el("section", { class: "card", id: "trustees" },
        el("h3", {}, `Trustees at height ${num(t.height)} (epoch ${num(t.epoch)})`),
        table(["Trustee", "Status", "#Bond", "#Joined", "Multiaddr"],
          trows.length ? trows : [emptyRow(5, "No trustees.")])),
      el("section", { class: "card", id: "lineup" },
        el("h3", {}, `Miners lined up at height ${num(l.height)}`),
        el("p", { class: "note" }, "SPEC §5: the lineup of miners, lowest 'until' last."),
        table(["Miner", "Sponsor", "#Since", "#Until"],
          lrows.length ? lrows : [emptyRow(4, "Nobody is lined up.")])),
    ];
  }

  // --- the resource market (SPEC §6): offers, orders, leases, a provider's view ------------

  function resources(x) {
    return `${num(x.cpu_millicores)}m CPU, ${num(x.mem_mib)} MiB, ${num(x.disk_gib)} GiB, ` +
      `${num(x.net_mbps)} Mbit/s`;
  }

  function offerRows(offers) {
    return offers.map((o) => el("tr", { "data-offer": o.id },
      td(el("span", { class: "mono", title: o.id }, short(o.id))),
      td(el("span", {}, link(visible(short(o.provider, 12, 6)), "provider", o.provider),
        o.lined_up ? el("span", {}, " ", tag("lined up", "good")) : "")),
      td(resources(o)),
      td(dlcText(o.price_per_block_dlc), "num"),
      td(dlcText(o.unit_price_dlc), "num"),
      td(`${num(o.active)} / ${num(o.capacity)}`, "num"),
      td(num(o.expires_height), "num"),
      td(el("span", { class: "mono" }, visible(o.endpoint || "—")))));
  }

  function leaseRows(leases) {
    return leases.map((x) => el("tr", { "data-lease": x.id },
      td(link(short(x.id), "lease", x.id)),
      td(addrLink(x.provider)), td(addrLink(x.buyer)),
      td(dlcText(x.price_per_block_dlc), "num"),
      td(`${num(x.start)} – ${num(x.end)}`, "num"),
      td(dlcText(x.paid_dlc), "num"),
      td(dlcText(x.escrow_left_dlc), "num"),
      td(num(x.last_seq), "num")));
  }

  const OFFER_HEAD = ["Offer", "Provider", "Resources", "#Price/block", "#Unit price",
    "#Leases", "#Expires", "Endpoint"];
  const LEASE_HEAD = ["Lease", "Provider", "Buyer", "#Price/block", "#Blocks", "#Paid",
    "#Escrow left", "#Receipt seq"];

  async function renderMarket(seq) {
    const [o, r, l] = await Promise.all([api("v1/offers?limit=100"), api("v1/orders?limit=100"),
      api("v1/leases?limit=100")]);
    if (seq !== renderSeq) return null;
    view = { kind: "market", seq };
    const orows = r.orders.map((x) => el("tr", { "data-order": x.id },
      td(el("span", { class: "mono", title: x.id }, short(x.id))),
      td(addrLink(x.buyer)), td(resources(x)),
      td(dlcText(x.max_price_per_block_dlc), "num"), td(num(x.duration_blocks), "num"),
      td(dlcText(x.deposit_dlc), "num"), td(num(x.expires_height), "num")));
    const ol = offerRows(o.offers);
    const ll = leaseRows(l.leases);
    return [
      el("h2", {}, "Resource market"),
      el("section", { class: "card", id: "offers" },
        el("h3", {}, `Offers at height ${num(o.height)} (${plural(o.count, "offer")})`),
        el("p", { class: "note" }, "Cheapest first; lined-up payroll members are matched " +
          "first (SPEC §6)."),
        table(OFFER_HEAD, ol.length ? ol : [emptyRow(8, "No offers.")])),
      el("section", { class: "card", id: "orders" },
        el("h3", {}, `Open orders (${plural(r.count, "order")})`),
        table(["Order", "Buyer", "Resources", "#Max price/block", "#Blocks", "#Deposit",
          "#Expires"], orows.length ? orows : [emptyRow(7, "No open orders.")])),
      el("section", { class: "card", id: "leases" },
        el("h3", {}, `Active leases (${plural(l.count, "lease")}), settled to height ` +
          num(l.height)),
        table(LEASE_HEAD, ll.length ? ll : [emptyRow(8, "No active leases.")])),
    ];
  }

  async function renderLease(seq, id) {
    if (!/^[0-9a-fA-F]{64}$/.test(id)) throw new ApiError(400, "bad_request", "Not a lease id.");
    const x = await api(`v1/leases/${id.toLowerCase()}`);
    if (seq !== renderSeq) return null;
    view = { kind: "lease", seq, id };
    return [
      el("h2", {}, "Lease"),
      el("section", { class: "card", id: "lease" }, kv([
        ["Lease (= order id)", el("span", { class: "mono", "data-field": "id" }, x.id)],
        ["Offer", el("span", { class: "mono" }, x.offer_id)],
        ["Provider", link(visible(x.provider), "provider", x.provider)],
        ["Buyer", addrLink(x.buyer)],
        ["Price per block", dlcText(x.price_per_block_dlc)],
        ["Price per unit", dlcText(x.unit_price_dlc)],
        ["Blocks", `${num(x.start)} to ${num(x.end)} (booked to ${num(x.duration_end)})`],
        ["Paid", el("span", { "data-field": "paid" }, dlcText(x.paid_dlc),
          ` as of height ${num(x.as_of)}`)],
        ["Owed (not yet moved)", dlcText(x.owed_dlc)],
        ["Escrow left", el("span", { "data-field": "escrow_left" }, dlcText(x.escrow_left_dlc))],
        ["Last receipt seq", num(x.last_seq)],
      ])),
    ];
  }

  async function renderProvider(seq, addr) {
    const q = encodeURIComponent(addr);
    const [o, l] = await Promise.all([api(`v1/offers?provider=${q}&limit=1000`),
      api(`v1/leases?provider=${q}&limit=1000`)]);
    if (seq !== renderSeq) return null;
    view = { kind: "provider", seq };
    const ol = offerRows(o.offers);
    const ll = leaseRows(l.leases);
    const escrow = l.leases.reduce((a, x) => a + BigInt(x.escrow_left), 0n);
    const paid = l.leases.reduce((a, x) => a + BigInt(x.paid), 0n);
    return [
      el("h2", {}, "Provider"),
      el("section", { class: "card", id: "provider" }, kv([
        ["Address", addrLink(addr)],
        ["Offers", num(o.count)],
        ["Active leases", num(l.count)],
        ["Paid on them so far", dlc(paid)],
        ["Escrow still to earn", dlc(escrow)],
      ])),
      el("section", { class: "card", id: "provider-offers" }, el("h3", {}, "Offers"),
        table(OFFER_HEAD, ol.length ? ol : [emptyRow(8, "No offers.")])),
      el("section", { class: "card", id: "provider-leases" }, el("h3", {}, "Leases"),
        table(LEASE_HEAD, ll.length ? ll : [emptyRow(8, "No active leases.")])),
    ];
  }

  // --- routing and search ----------------------------------------------------------------

  async function route() {
    if (!token) return;
    const seq = ++renderSeq;
    view = { kind: "loading", seq };
    const parts = (location.hash || "#/").replace(/^#\/?/, "").split("/")
      .map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
    main.replaceChildren(el("p", { class: "loading" }, "Loading…"));
    try {
      let page;
      if (!parts[0]) page = await renderHome(seq);
      else if (parts[0] === "block" && parts[1]) page = await renderBlock(seq, parts[1]);
      else if (parts[0] === "tx" && parts[1]) page = await renderTx(seq, parts[1]);
      else if (parts[0] === "account" && parts[1]) page = await renderAccount(seq, parts[1]);
      else if (parts[0] === "trustees") page = await renderTrustees(seq);
      else if (parts[0] === "market") page = await renderMarket(seq);
      else if (parts[0] === "lease" && parts[1]) page = await renderLease(seq, parts[1]);
      else if (parts[0] === "provider" && parts[1]) page = await renderProvider(seq, parts[1]);
      else throw new ApiError(404, "not_found", "There is no such page in the explorer.");
      if (page && seq === renderSeq) main.replaceChildren(...[page].flat());
    } catch (err) {
      if (seq !== renderSeq || err.status === 401 || err.name === "AbortError") return;
      main.replaceChildren(el("h2", {}, "Not shown"),
        card(null, el("p", { class: "error", id: "page-error" }, err.message),
          el("p", {}, link("Back to the overview"))));
    }
  }

  async function search(text) {
    const q = text.trim();
    if (!q) return;
    showNotice("");
    if (/^[0-9]{1,20}$/.test(q)) {
      location.hash = href("block", q.replace(/^0+(?=.)/, ""));
      return;
    }
    if (/^[0-9a-fA-F]{64}$/.test(q)) {
      const id = q.toLowerCase();
      for (const [kind, path] of [["block", "v1/blocks/"], ["tx", "v1/txs/"]]) {
        try {
          await api(path + id);
          location.hash = href(kind, id);
          return;
        } catch (err) {
          if (err.status !== 404) { showNotice(err.message, true); return; }
        }
      }
      showNotice(`No block or transaction with id ${id}.`, true);
      return;
    }
    if (/^dlc1[0-9a-z]+$/i.test(q) || /^(02|03)[0-9a-fA-F]{64}$/.test(q)) {
      location.hash = href("account", q.toLowerCase());
      return;
    }
    showNotice("Search for a height, a 64-hex block or transaction id, or a dlc1 address.",
      true);
  }

  document.getElementById("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!token) { askToken("Give the API token first."); return; }
    search(document.getElementById("search-input").value);
  });

  forgetButton.addEventListener("click", () => askToken("The token is forgotten."));

  window.addEventListener("hashchange", () => {
    if (/^#token=/.test(location.hash)) { start(); return; }
    showNotice("");
    route();
  });

  function start() {
    takeTokenFromFragment();
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (!saved || !TOKEN_RE.test(saved)) { askToken(""); return; }
    token = saved;
    forgetButton.hidden = false;
    if (!/^#\//.test(location.hash)) history.replaceState(null, "", "#/");
    stopStream();
    runStream();
    route();
  }

  start();
})();
