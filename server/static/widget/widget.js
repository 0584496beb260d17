/* ChatSpark Appliance chat widget.
 * Embed: <script src="https://HOST/widget.js" data-agent="ag_XXXX" defer></script>
 * Vanilla ES2020, no globals, talks only to the appliance that served this file. Everything lives in an
 * open shadow root; text from visitors or the server is only ever rendered with DOM APIs (textContent). */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[data-agent][src*="widget.js"]');
  if (!script || !script.src) return;
  var agentId = (script.getAttribute("data-agent") || "").trim();
  if (!/^[\w-]{1,100}$/.test(agentId)) { console.info("ChatSpark: the widget script needs a data-agent attribute"); return; }
  var BASE;
  try { BASE = new URL(script.src, location.href).origin; } catch (e) { return; }
  /* every endpoint is under the agent: session, messages, messages/ID/{feedback,sources/RANK}, leads */
  var API = "/widget/v1/agents/" + encodeURIComponent(agentId);
  var TOKEN_KEY = "chatspark:" + agentId, OPEN_KEY = "chatspark:open:" + agentId, MAX_LEN = 1000;
  /* as appliance/conversations/leads.py checks lead fields (a test keeps them equal) */
  var EMAIL = /^(?:[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$/;
  var PHONE = /^(?:\+?[0-9 ().\-/]{6,25}(?:\s*(?:ext\.?|x)\s*[0-9]{1,6})?)$/i;
  var SVGNS = "http://www.w3.org/2000/svg";
  var ICONS = {
    chat: "M21 11.5a8.4 8.4 0 0 1-12.2 7.5L3 21l2-5.6A8.4 8.4 0 1 1 21 11.5z",
    close: "M18 6 6 18M6 6l12 12",
    down: "m6 9 6 6 6-6",
    send: "M12 19V5M5 12l7-7 7 7",
    restart: "M3 4v6h6M3.5 15a9 9 0 1 0 2.1-9.4L3 10",
    thumb: "M7 10v12M15 5.9 14 10h5.8a2 2 0 0 1 1.9 2.6l-2.3 8a2 2 0 0 1-1.9 1.4H4a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2h2.8a2 2 0 0 0 1.8-1.1L12 2a3.1 3.1 0 0 1 3 3.9z"
  };

  /* ---------- storage: never throws, falls back to memory ---------- */
  var memory = {};
  function load(kind, key) {
    try { var v = window[kind].getItem(key); if (v != null) return v; } catch (e) { /* blocked storage */ }
    return memory[kind + key] == null ? null : memory[kind + key];
  }
  function save(kind, key, value) {
    memory[kind + key] = value;
    try { window[kind].setItem(key, value); } catch (e) { /* memory only */ }
  }
  function getToken() {
    try { var v = JSON.parse(load("localStorage", TOKEN_KEY)); return v && typeof v.token === "string" && v.token || null; }
    catch (e) { return null; }
  }
  function setToken(t) { if (typeof t === "string" && t) save("localStorage", TOKEN_KEY, JSON.stringify({ token: t })); }

  /* ---------- DOM helpers ---------- */
  function h(tag, props, kids) {
    var el = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) {
      var v = props[k];
      if (v == null || v === false) return;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    });
    (kids || []).forEach(function (c) { if (c != null) el.append(c); }); /* a string becomes a text node */
    return el;
  }
  function icon(name, size) {
    var s = document.createElementNS(SVGNS, "svg"), p = document.createElementNS(SVGNS, "path");
    var a = { viewBox: "0 0 24 24", width: size, height: size, fill: "none", stroke: "currentColor", "stroke-width": 2,
      "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true" };
    Object.keys(a).forEach(function (k) { s.setAttribute(k, String(a[k])); });
    p.setAttribute("d", ICONS[name]);
    s.appendChild(p);
    return s;
  }
  function iconButton(cls, label, name, size, onclick) {
    return h("button", { type: "button", class: cls, "aria-label": label, title: label, onclick: onclick }, [icon(name, size)]);
  }
  function clear(el) { el.replaceChildren(); }
  function str(v) { return typeof v === "string" ? v : ""; }
  function safeUrl(u) {
    try { var url = new URL(String(u)); return /^https?:$/.test(url.protocol) ? url.href : null; } catch (e) { return null; }
  }
  function link(href, text) { return h("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: text }); }

  /* ---------- formatting: **bold**, *em*, _em_, [text](url), bare URLs, newlines; nothing else ---------- */
  var INLINE = /\[([^\]\n]+)\]\(([^()\s]+)\)|(https?:\/\/[^\s<>"]+)|\*\*(?=\S)([^*\n]*?\S)\*\*|\*(?=[^\s*])([^*\n]*?[^\s*])\*|(^|[^\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g;
  function inline(text, parent, depth) {
    var re = new RegExp(INLINE.source, "g"), last = 0, m;
    function put(n) { parent.append(n); }
    function nest(tag, inner) { var el = h(tag); inline(inner, el, depth + 1); put(el); }
    while ((m = re.exec(text))) {
      if (m.index > last) put(text.slice(last, m.index));
      last = re.lastIndex;
      if (m[1] != null) {
        var target = safeUrl(m[2]);
        put(target ? link(target, m[1]) : m[0]);
      } else if (m[3] != null) {
        var url = m[3], tail = "", ch;
        while ((ch = url.slice(-1)) && (/[.,;:!?'*_\]]/.test(ch) || ch === ")" && url.split("(").length < url.split(")").length)) {
          tail = ch + tail; url = url.slice(0, -1);
        }
        var href = safeUrl(url);
        put(href ? link(href, url) : url);
        if (tail) put(tail);
      } else if (depth > 2) put(m[0]);
      else if (m[4] != null) nest("strong", m[4]);
      else if (m[5] != null) nest("em", m[5]);
      else { if (m[6]) put(m[6]); nest("em", m[7]); }
    }
    if (last < text.length) put(text.slice(last));
  }
  function formatInto(el, text) {
    clear(el);
    String(text == null ? "" : text).replace(/\r\n?/g, "\n").split("\n").forEach(function (line, i) {
      if (i) el.appendChild(h("br"));
      if (line) inline(line, el, 0);
    });
  }

  /* ---------- colours: text on the agent colour is white or near-black, by contrast ---------- */
  function parseHex(c) {
    var m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(str(c).trim());
    if (!m) return null;
    var x = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map(function (i) { return parseInt(x.substr(i, 2), 16); });
  }
  function lum(rgb) {
    var v = rgb.map(function (c) { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  }
  function palette(color) {
    var rgb = parseHex(color) || [37, 99, 235], L = lum(rgb);
    var light = 1.05 / (L + 0.05) >= (L + 0.05) / 0.0594; /* white vs #111827 */
    var s = rgb;
    for (var i = 0; i < 20 && 1.05 / (lum(s) + 0.05) < 4.6; i++) s = s.map(function (c) { return c * 0.88; });
    var rgba = "rgba(" + s.map(Math.round).join(",");
    return {
      "--cs-accent": "rgb(" + rgb.join(",") + ")", "--cs-on": light ? "#fff" : "#111827",
      "--cs-tint": light ? "rgba(255,255,255,.18)" : "rgba(0,0,0,.08)",
      "--cs-strong": rgba + ")", "--cs-soft": rgba + ",.08)", "--cs-ring": rgba + ",.28)"
    };
  }

  /* ---------- styles: only inside the shadow root; px units only ---------- */
  var FONT = 'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif';
  var CSS = `:host{all:initial}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.cs-root{font:400 15px/1.45 ${FONT};color:#1f2937;text-align:left;-webkit-font-smoothing:antialiased;-webkit-text-size-adjust:100%;text-size-adjust:100%}
p,ul,li,h2,form{margin:0;padding:0;font:inherit}
strong{font-weight:700}em{font-style:italic}
svg{display:block;flex:none}
button,input,textarea{margin:0;font:inherit;color:inherit;letter-spacing:inherit;background:none;border:0;border-radius:8px;outline:none;-webkit-appearance:none;appearance:none}
button{display:inline-flex;align-items:center;justify-content:center;padding:0;cursor:pointer;-webkit-tap-highlight-color:transparent}
button:disabled{cursor:default;opacity:.45}
input,textarea{display:block;width:100%;background:#fff;color:#111827;font-size:15px;line-height:1.4;resize:none}
::placeholder{color:#9ca3af;opacity:1}
a,.cs-cite{color:var(--cs-strong);text-decoration:underline;text-underline-offset:2px;overflow-wrap:anywhere}
a:hover,.cs-cite:hover{text-decoration-thickness:2px}
:focus-visible{outline:2px solid var(--cs-strong);outline-offset:2px}
.cs-sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.cs-launcher{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;background:var(--cs-accent);color:var(--cs-on);box-shadow:0 6px 20px rgba(15,23,42,.22),0 2px 6px rgba(15,23,42,.14);transition:transform .15s,box-shadow .15s}
.cs-launcher:hover{transform:scale(1.06);box-shadow:0 10px 26px rgba(15,23,42,.26),0 3px 8px rgba(15,23,42,.16)}
.cs-launcher:focus-visible{outline-width:3px;outline-offset:3px}
.cs-badge{position:absolute;top:3px;right:3px;width:14px;height:14px;border-radius:50%;background:#ef4444;border:2px solid #fff}
.cs-panel{position:fixed;right:20px;bottom:92px;width:370px;max-width:calc(100vw - 40px);height:min(600px,calc(100vh - 100px));max-height:min(600px,calc(100vh - 100px));display:flex;flex-direction:column;background:#fff;border-radius:16px;overflow:hidden;box-shadow:0 16px 48px rgba(15,23,42,.2),0 4px 12px rgba(15,23,42,.1),0 0 0 1px rgba(15,23,42,.06);animation:cs-in .18s ease-out}
@keyframes cs-in{from{opacity:0;transform:translateY(12px) scale(.98)}}
.cs-header{display:flex;align-items:center;gap:10px;padding:14px 10px 14px 16px;background:var(--cs-accent);color:var(--cs-on)}
.cs-avatar{width:36px;height:36px;border-radius:50%;background:var(--cs-tint);display:flex;align-items:center;justify-content:center;font-weight:700;font-size:16px;flex:none}
.cs-name{flex:1;font-size:16px;font-weight:600;line-height:1.25;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.cs-hbtn{width:36px;height:36px;border-radius:10px;flex:none}
.cs-hbtn:hover{background:var(--cs-tint)}
.cs-header :focus-visible{outline-color:currentColor;outline-offset:-2px}
.cs-scroll{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:16px 14px 8px}
.cs-log{display:flex;flex-direction:column;gap:12px}
.cs-msg{display:flex;flex-direction:column;align-items:flex-start}
.cs-visitor{align-items:flex-end}
.cs-bubble{max-width:86%;padding:9px 13px;border-radius:18px;overflow-wrap:anywhere}
.cs-agent .cs-bubble{background:#f1f3f6;color:#111827;border-bottom-left-radius:6px}
.cs-visitor .cs-bubble{background:var(--cs-accent);color:var(--cs-on);border-bottom-right-radius:6px}
.cs-visitor a{color:inherit}
.cs-pending .cs-bubble{opacity:.7}
.cs-sources{margin-top:8px;padding-top:7px;border-top:1px solid #dde1e7;font-size:12.5px;line-height:1.4;color:#4b5563}
.cs-sources b{display:block;font-weight:600;color:#6b7280;margin-bottom:2px}
.cs-sources ul{list-style:none}
.cs-sources li{padding:1px 0 1px 12px;position:relative}
.cs-sources li::before{content:"\\2022";position:absolute;left:2px;color:#9ca3af}
.cs-cite{display:inline;text-align:left}
.cs-passage{margin:4px 0 6px;padding:6px 10px;max-height:220px;overflow-y:auto;background:#fff;border-left:3px solid var(--cs-strong);color:#1f2937}
.cs-actions{display:flex;gap:2px;margin-top:4px;padding-left:4px}
.cs-fb{width:28px;height:28px;color:#9ca3af}
.cs-fb:hover{color:#4b5563;background:#f3f4f6}
.cs-fb[aria-pressed=true]{color:var(--cs-strong);background:var(--cs-soft)}
.cs-fb[aria-pressed=true] svg{fill:var(--cs-soft)}
.cs-down svg{transform:rotate(180deg)}
.cs-typing .cs-bubble{display:flex;gap:5px;padding:13px 15px}
.cs-dot{width:7px;height:7px;border-radius:50%;background:#9ca3af;animation:cs-b 1.2s infinite ease-in-out}
.cs-dot:nth-child(2){animation-delay:.15s}.cs-dot:nth-child(3){animation-delay:.3s}
@keyframes cs-b{0%,60%,100%{transform:none;opacity:.5}30%{transform:translateY(-4px);opacity:1}}
.cs-suggestions{display:flex;flex-wrap:wrap;justify-content:flex-end;gap:8px;margin-top:14px}
.cs-suggestion{border:1px solid var(--cs-strong);color:var(--cs-strong);background:#fff;border-radius:999px;padding:6px 13px;font-size:13.5px;line-height:1.35;text-align:left}
.cs-suggestion:hover{background:var(--cs-soft)}
.cs-status{font-size:13px;line-height:1.4;color:#92400e;background:#fffbeb;border-top:1px solid #fde68a;padding:8px 14px}
.cs-status:empty{padding:0;border:0}
.cs-composer{padding:10px 12px 6px;border-top:1px solid #eef0f3}
.cs-wrap{display:flex;align-items:flex-end;gap:8px;border:1px solid #d1d5db;border-radius:22px;padding:5px 5px 5px 14px;transition:border-color .15s,box-shadow .15s}
.cs-wrap:focus-within{border-color:var(--cs-strong);box-shadow:0 0 0 3px var(--cs-ring)}
.cs-input{flex:1;min-height:34px;max-height:120px;padding:7px 0;background:none;overflow-y:auto}
.cs-input:disabled{color:#9ca3af}
.cs-input:focus-visible,.cs-lf input:not([type=checkbox]):focus-visible,.cs-lf textarea:focus-visible{outline:none}
.cs-send{width:34px;height:34px;border-radius:50%;background:var(--cs-accent);color:var(--cs-on);flex:none}
.cs-footer{display:flex;align-items:center;gap:8px;padding:2px 16px 8px;font-size:12px;color:#9ca3af;min-height:24px}
.cs-handoff{color:var(--cs-strong);font-size:12.5px;font-weight:500;padding:2px 4px;margin-left:-4px;border-radius:6px}
.cs-handoff:hover{text-decoration:underline}
.cs-brand{margin-left:auto;white-space:nowrap}
.cs-lead{border:1px solid #e5e7eb;border-radius:14px;padding:14px;box-shadow:0 1px 3px rgba(15,23,42,.06)}
.cs-lead h2{font-size:15px;font-weight:600;color:#111827}
.cs-lead p{font-size:13px;color:#6b7280;margin:2px 0 10px}
.cs-lf{margin-top:10px}
.cs-lf label{display:block;font-size:13px;font-weight:600;color:#374151;margin-bottom:4px}
.cs-req{color:#b91c1c;margin-left:2px}
.cs-lf input,.cs-lf textarea{border:1px solid #d1d5db;border-radius:9px;padding:8px 10px;min-height:38px}
.cs-lf input:focus,.cs-lf textarea:focus{border-color:var(--cs-strong);box-shadow:0 0 0 3px var(--cs-ring)}
.cs-lf [aria-invalid=true]{border-color:#dc2626}
.cs-consent{display:flex;gap:9px;align-items:flex-start}
.cs-lf .cs-consent label{font-size:12.5px;font-weight:400;color:#4b5563;margin:0}
.cs-lf .cs-consent input{-webkit-appearance:auto;appearance:auto;width:16px;height:16px;min-height:0;margin-top:2px;flex:none;accent-color:var(--cs-accent)}
.cs-lf .cs-consent input:focus-visible{outline:2px solid var(--cs-strong)}
.cs-err{font-size:12.5px;color:#b91c1c;margin-top:4px}
.cs-err:empty{display:none}
.cs-lead-btns{display:flex;gap:8px;margin-top:14px;justify-content:flex-end}
.cs-lead-btns button{padding:8px 14px;font-size:14px;border-radius:9px}
.cs-lead-submit{background:var(--cs-accent);color:var(--cs-on);font-weight:600}
.cs-lead-cancel{color:#4b5563}
.cs-lead-cancel:hover{background:#f3f4f6}
.cs-lead-done{border-radius:14px;padding:12px 14px;background:#ecfdf5;color:#065f46;font-size:14px;border:1px solid #a7f3d0}
@media (max-width:479.98px){.cs-panel{inset:0;width:100%;max-width:none;height:100vh;height:100dvh;max-height:none;border-radius:0;animation:none}.cs-open .cs-launcher{display:none}.cs-input{font-size:16px}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
@media print{.cs-root{display:none}}`;

  /* ---------- network ---------- */
  /* a POST of `body`, or a GET when there is none */
  function post(path, body, auth, ms) {
    var headers = { Accept: "application/json" }, token = auth && getToken();
    if (body) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    var ctl = new AbortController(), timer = setTimeout(function () { ctl.abort(); }, ms || 30000);
    var fail = { ok: false, status: 0, network: true, data: {} };
    return fetch(BASE + path, { method: body ? "POST" : "GET", mode: "cors", credentials: "omit", cache: "no-store",
      headers: headers, body: body ? JSON.stringify(body) : undefined, signal: ctl.signal }).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = JSON.parse(t); } catch (e) { /* not JSON */ }
        return { ok: r.ok, status: r.status, data: data && typeof data === "object" ? data : {}, retry: r.headers.get("Retry-After") };
      });
    }).catch(function () { return fail; }).finally(function () { clearTimeout(timer); });
  }
  function retryAfter(res) {
    var n = parseInt(res.retry, 10);
    if (isNaN(n) && res.retry) n = Math.ceil((Date.parse(res.retry) - Date.now()) / 1000);
    if (isNaN(n)) n = Math.ceil(Number(res.data.retry_after_seconds));
    return n > 0 ? n : 1;
  }
  function tokenError(res) { return res.status === 401 && /^token_(expired|invalid)$/.test(res.data.error); }
  function unavailable(res) { return (res.status === 403 || res.status === 404) && res.data.error === "not_available_here"; }
  function sessionCall(restart) {
    return post(API + "/session",
      { token: getToken() || undefined, restart: !!restart, page_url: location.href });
  }
  var renewing = null;
  function renew() {
    return renewing || (renewing = sessionCall(false).then(function (res) {
      renewing = null;
      if (res.ok && res.data.token) applySession(res.data, false);
      return res;
    }));
  }
  /* Authenticated call. On 401 token_expired/token_invalid: renew through the session endpoint, retry once. */
  function call(path, body, ms) {
    return post(path, body, true, ms).then(function (res) {
      return !tokenError(res) ? res : renew().then(function (s) { return s.ok ? post(path, body, true, ms) : s; });
    });
  }
  function errorText(res) {
    if (res.network) return "Can't reach the chat right now. Please try again.";
    if (res.status === 429) {
      var n = retryAfter(res);
      if (n > 300 && res.data.message) return String(res.data.message); /* e.g. the agent's daily limit: "try again tomorrow" */
      return "You're sending messages quickly. Please wait " + n + (n === 1 ? " second" : " seconds") + " and try again.";
    }
    if (res.status === 413) return "That message is too long.";
    if (res.status === 400 && res.data.message) return String(res.data.message);
    if (res.status === 401) return "Your chat session has ended. Please use Start over to begin again.";
    return "Something went wrong. Please try again.";
  }

  /* ---------- state ---------- */
  var agent = null, conv = null, ui = null;
  var state = { open: false, busy: false, off: false, pending: null, leadBusy: false };
  function applySession(data, forceRender) {
    setToken(data.token);
    var a = data.agent || {}, c = data.conversation || {}, lf = a.lead_form, oldId = conv && conv.id;
    agent = {
      name: str(a.name).trim() || "Assistant", color: a.color, welcome: str(a.welcome_message),
      suggestions: (Array.isArray(a.suggested_questions) ? a.suggested_questions : []).filter(function (q) { return str(q).trim(); }),
      leadCapture: str(a.lead_capture) || "off",
      form: lf && typeof lf === "object" ? {
        fields: (Array.isArray(lf.fields) ? lf.fields : []).filter(function (f) { return f && str(f.name); }),
        consent: str(lf.consent_text) || "I agree to be contacted about my question.", version: lf.consent_version
      } : null
    };
    conv = { id: c.id == null ? null : String(c.id), messages: (Array.isArray(c.messages) ? c.messages : []).filter(Boolean),
      lead: c.lead && typeof c.lead === "object" ? c.lead : c.lead_submitted ? {} : null };
    if (ui) {
      applyAgent();
      if (forceRender || oldId !== conv.id) renderConversation(); else updateChrome();
    }
  }
  function leadAvailable() { return !!agent.form && !conv.lead && !state.off; }

  /* ---------- building the UI ---------- */
  function build() {
    var host = document.createElement("chatspark-widget");
    host.setAttribute("data-agent", agentId);
    /* inline !important beats any host page rule; "all: initial" first, then only what differs from initial */
    [["all", "initial"], ["display", "block"], ["position", "fixed"], ["z-index", "2147483000"], ["right", "0"], ["bottom", "0"],
      ["width", "0"], ["height", "0"], ["font-size", "15px"], ["line-height", "1.45"], ["color", "#1f2937"], ["font-family", FONT]
    ].forEach(function (d) { host.style.setProperty(d[0], d[1], "important"); });
    var shadow = host.attachShadow({ mode: "open" });
    try { /* a constructable sheet applies even where the host page's CSP blocks inline <style> */
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
    } catch (e) { shadow.appendChild(h("style", { text: CSS })); }

    var u = { host: host, shadow: shadow };
    u.avatar = h("div", { class: "cs-avatar", "aria-hidden": "true" });
    u.name = h("h2", { class: "cs-name" });
    u.restart = iconButton("cs-hbtn cs-restart", "Start over", "restart", 19, restart);
    u.close = iconButton("cs-hbtn cs-close", "Close chat", "close", 20, function () { setOpen(false, true); });
    u.log = h("div", { class: "cs-log", role: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": "Conversation" });
    u.suggestions = h("div", { class: "cs-suggestions", role: "group", "aria-label": "Suggested questions" });
    u.scroll = h("div", { class: "cs-scroll" }, [u.log, u.suggestions]);
    u.status = h("div", { class: "cs-status", role: "status", "aria-live": "polite" });
    u.input = h("textarea", { class: "cs-input", rows: 1, maxlength: MAX_LEN, "aria-label": "Your message", placeholder: "Type your message…" });
    u.send = iconButton("cs-send", "Send", "send", 18, sendFromInput);
    u.handoff = h("button", { type: "button", class: "cs-handoff", text: "Talk to a person", onclick: function () { showLeadForm(true); } });
    u.panel = h("div", { class: "cs-panel", id: "cs-panel", role: "dialog", "aria-modal": "false", hidden: true }, [
      h("div", { class: "cs-header" }, [u.avatar, u.name, u.restart, u.close]),
      u.scroll, u.status,
      h("div", { class: "cs-composer" }, [h("div", { class: "cs-wrap" }, [u.input, u.send])]),
      h("div", { class: "cs-footer" }, [u.handoff, h("span", { class: "cs-brand", text: "Powered by ChatSpark" })])
    ]);
    u.launcherIcon = h("span", { "aria-hidden": "true" });
    u.badge = h("span", { class: "cs-badge", hidden: true, "aria-hidden": "true" });
    u.launcher = h("button", { type: "button", class: "cs-launcher", "aria-expanded": "false", "aria-controls": "cs-panel",
      onclick: function () { setOpen(!state.open, true); } }, [u.launcherIcon, u.badge]);
    u.root = h("div", { class: "cs-root" }, [u.panel, u.launcher]);
    shadow.appendChild(u.root);

    u.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); sendFromInput(); }
    });
    u.input.addEventListener("input", autoGrow);
    ["keydown", "keyup", "keypress"].forEach(function (t) {
      u.root.addEventListener(t, function (e) {
        if (t === "keydown" && e.key === "Escape" && state.open) { e.preventDefault(); setOpen(false, true); }
        e.stopPropagation(); /* typing in the chat must not trigger the host page's keyboard shortcuts */
      });
    });
    ui = u;
    applyAgent();
    renderConversation();
    setOpen(false, false);
    document.body.appendChild(host);
  }
  function applyAgent() {
    var p = palette(agent.color);
    Object.keys(p).forEach(function (k) { ui.root.style.setProperty(k, p[k]); });
    ui.name.textContent = agent.name;
    ui.avatar.textContent = Array.from(agent.name)[0].toUpperCase();
    ui.panel.setAttribute("aria-label", "Chat with " + agent.name);
    ui.launcher.setAttribute("aria-label", "Open chat with " + agent.name);
    updateChrome();
  }
  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
  }
  function updateChrome() {
    ui.send.disabled = state.busy || state.off;
    ui.input.disabled = state.off;
    ui.restart.disabled = state.busy;
    ui.handoff.hidden = agent.leadCapture === "off" || !leadAvailable() || ui.log.lastChild === leadForm;
    var visitorSpoke = !!state.pending || conv.messages.some(function (m) { return m.role === "visitor"; });
    ui.suggestions.hidden = visitorSpoke || state.off || !agent.suggestions.length;
  }
  /* Scroll to the end, but never past the top of `anchor` (a long reply or the lead form is read from its start). */
  function scrollDown(anchor) {
    requestAnimationFrame(function () {
      var s = ui.scroll, t = s.scrollHeight - s.clientHeight;
      if (anchor && anchor.isConnected) t = Math.min(t, s.scrollTop + anchor.getBoundingClientRect().top - s.getBoundingClientRect().top - 12);
      s.scrollTop = t;
    });
  }
  function setStatus(text) { ui.status.textContent = text || ""; }
  function setOpen(open, byUser) {
    state.open = open;
    ui.panel.hidden = !open;
    ui.root.classList.toggle("cs-open", open);
    ui.launcher.setAttribute("aria-expanded", String(open));
    clear(ui.launcherIcon);
    ui.launcherIcon.appendChild(icon(open ? "down" : "chat", 28));
    if (!byUser) return;
    save("sessionStorage", OPEN_KEY, open ? "1" : "0");
    if (open) {
      ui.badge.hidden = true;
      scrollDown();
      (state.off ? ui.close : ui.input).focus();
    } else ui.launcher.focus();
  }

  /* ---------- messages ---------- */
  function messageEl(m, welcome) {
    var isAgent = m.role !== "visitor", text = h("div", { class: "cs-text" });
    formatInto(text, m.text);
    var bubble = h("div", { class: "cs-bubble" }, [h("span", { class: "cs-sr", text: (isAgent ? agent.name : "You") + ": " }), text]);
    var el = h("div", { class: "cs-msg " + (isAgent ? "cs-agent" : "cs-visitor") + (welcome ? " cs-welcome" : ""),
      "data-message-id": m.id }, [bubble]);
    if (isAgent && Array.isArray(m.sources) && m.sources.length) {
      var list = h("ul");
      m.sources.forEach(function (s) {
        if (!s || typeof s !== "object") return;
        var label = str(s.title).trim() || str(s.url).trim() || "Source", path = str(s.heading_path).trim(), href = s.url && safeUrl(s.url);
        /* the heading path often starts with the document's own title: show each name once */
        var parts = path ? path.split(/\s*>\s*/) : [];
        if (parts[0] === label) parts.shift();
        if (parts.length) label += " \u203A " + parts.join(" \u203A ");
        var cited = !href && m.id != null && typeof s.rank === "number";
        list.appendChild(h("li", null, href ? [link(href, label)] : cited ? passageEls(m.id, s.rank, label) : [label]));
      });
      bubble.appendChild(h("div", { class: "cs-sources" }, [h("b", { text: "Sources:" }), list]));
    }
    if (isAgent && !welcome && m.id != null) el.appendChild(feedbackEl(m));
    return el;
  }
  /* a source without a web address shows, under its name, the passage the reply used */
  function passageEls(id, rank, label) {
    var box = h("div", { class: "cs-passage", hidden: true }), loaded = false, seq = 0;
    var toggle = h("button", { type: "button", class: "cs-cite", text: label, "aria-expanded": "false", onclick: function () {
      var open = box.hidden, mine = ++seq;
      toggle.setAttribute("aria-expanded", String(open));
      box.hidden = !open;
      if (!open || loaded) return;
      clear(box);
      box.appendChild(h("p", { text: "Loading\u2026" }));
      call(API + "/messages/" + encodeURIComponent(id) + "/sources/" + rank, null).then(function (res) {
        if (mine !== seq) return;
        var p = res.ok && res.data.passage, text = h("div");
        clear(box);
        if (p && typeof p === "object") {
          loaded = true;
          if (str(p.question)) box.appendChild(h("strong", { text: p.question }));
          formatInto(text, p.text);
          box.appendChild(text);
          box.scrollIntoView({ block: "nearest" });
        } else box.appendChild(h("p", { class: "cs-err", text: /^(403|404|410)$/.test(res.status) && str(res.data.message) || errorText(res) }));
      });
    } });
    return [toggle, box];
  }
  function feedbackEl(m) {
    var up = iconButton("cs-fb cs-up", "Helpful", "thumb", 16, function () { rate("up"); });
    var down = iconButton("cs-fb cs-down", "Not helpful", "thumb", 16, function () { rate("down"); });
    function show(r) { up.setAttribute("aria-pressed", String(r === "up")); down.setAttribute("aria-pressed", String(r === "down")); }
    function rate(which) {
      var next = m.feedback === which ? null : which;
      show(next);
      up.disabled = down.disabled = true;
      call(API + "/messages/" + encodeURIComponent(m.id) + "/feedback", { rating: next }).then(function (res) {
        up.disabled = down.disabled = false;
        if (res.ok) {
          var f = "feedback" in res.data ? res.data.feedback : next;
          m.feedback = f === "up" || f === "down" ? f : null;
          setStatus("");
        } else failed(res);
        show(m.feedback);
      });
    }
    show(m.feedback);
    return h("div", { class: "cs-actions" }, [up, down]);
  }
  function typingEl() {
    var dot = function () { return h("span", { class: "cs-dot", "aria-hidden": "true" }); };
    return h("div", { class: "cs-msg cs-agent cs-typing" }, [
      h("div", { class: "cs-bubble" }, [dot(), dot(), dot(), h("span", { class: "cs-sr", text: agent.name + " is typing" })])]);
  }
  function thanksEl(text) {
    return h("div", { class: "cs-lead-done", text: str(text) || "Thank you! Someone will get back to you soon." });
  }
  function renderConversation() {
    clear(ui.log);
    clear(ui.suggestions);
    leadForm = null;
    if (agent.welcome.trim()) ui.log.appendChild(messageEl({ role: "agent", text: agent.welcome }, true));
    /* a lead left earlier: its confirmation after the last message before it */
    var thanks = conv.lead && thanksEl(conv.lead.message), after = conv.lead && conv.lead.after_message_id;
    conv.messages.forEach(function (m) {
      if (thanks && !(m.id <= after)) { ui.log.appendChild(thanks); thanks = null; }
      ui.log.appendChild(messageEl(m));
    });
    if (thanks) ui.log.appendChild(thanks);
    if (state.pending) { ui.log.appendChild(state.pending.el); ui.log.appendChild(state.pending.typing); }
    agent.suggestions.forEach(function (q) {
      ui.suggestions.appendChild(h("button", { type: "button", class: "cs-suggestion", text: q, onclick: function () {
        if (state.busy || state.off) return;
        ui.input.focus();
        send(q);
      } }));
    });
    var last = conv.messages[conv.messages.length - 1];
    if (last && last.role === "agent" && last.offer_lead_form) showLeadForm(false);
    updateChrome();
    scrollDown();
  }
  function sendFromInput() {
    var text = ui.input.value.trim();
    if (!text || state.busy || state.off) return;
    if (text.length > MAX_LEN) { setStatus("That message is too long."); return; }
    ui.input.value = "";
    autoGrow();
    ui.input.focus();
    send(text);
  }
  function send(text) {
    setStatus("");
    if (leadForm && !leadForm.touched) dropLeadForm(); /* moving on; a form being filled in stays put */
    var pending = state.pending = { el: messageEl({ role: "visitor", text: text }), typing: typingEl() };
    pending.el.classList.add("cs-pending");
    state.busy = true;
    ui.log.appendChild(pending.el);
    ui.log.appendChild(pending.typing);
    updateChrome();
    scrollDown();
    call(API + "/messages", { text: text, page_url: location.href }, 300000).then(function (res) {
      state.pending = null;
      state.busy = false;
      pending.typing.remove();
      var reply = res.ok && res.data.reply;
      if (reply) {
        var vm = res.data.visitor_message || { role: "visitor", text: text };
        conv.messages.push(vm, reply);
        if (pending.el.isConnected) pending.el.replaceWith(messageEl(vm));
        else ui.log.appendChild(messageEl(vm)); /* the log was re-rendered meanwhile */
        var replyEl = messageEl(reply);
        ui.log.appendChild(replyEl);
        if (reply.offer_lead_form) showLeadForm(false);
        if (!state.open) ui.badge.hidden = false;
      } else {
        pending.el.remove();
        if (!ui.input.value) { ui.input.value = text; autoGrow(); }
        failed(res);
      }
      updateChrome();
      scrollDown(replyEl);
      /* keep the visitor in the textarea unless they deliberately went elsewhere */
      if (state.open && !ui.shadow.activeElement && document.activeElement === document.body) ui.input.focus();
    });
  }
  function failed(res) {
    if (unavailable(res)) { state.off = true; setStatus("This chat is not available here."); updateChrome(); }
    else setStatus(errorText(res));
  }
  function restart() {
    if (state.busy) return;
    state.busy = true;
    updateChrome();
    sessionCall(true).then(function (res) {
      state.busy = false;
      if (res.ok && res.data.token) {
        state.off = false;
        setStatus("");
        ui.input.value = "";
        autoGrow();
        applySession(res.data, true);
      } else failed(res);
      updateChrome();
      if (!state.off) ui.input.focus();
    });
  }

  /* ---------- lead form: in the conversation, where last offered; one at a time ---------- */
  var leadSeq = 0, leadForm = null;
  function showLeadForm(focus) {
    if (!leadAvailable()) return;
    var had = leadForm && leadForm.contains(ui.shadow.activeElement) && ui.shadow.activeElement;
    ui.log.appendChild(leadForm = leadForm || leadFormEl()); /* moved with what was typed */
    if (had) had.focus({ preventScroll: true });
    scrollDown(focus && leadForm);
    if (focus) leadForm.querySelector("input,textarea").focus({ preventScroll: true });
    updateChrome();
  }
  function dropLeadForm() {
    if (leadForm) leadForm.remove();
    leadForm = null;
    updateChrome();
  }
  function leadFormEl() {
    var lf = agent.form, n = ++leadSeq, controls = {}, order = [];
    var formErr = h("div", { class: "cs-err", role: "alert" });
    var form = h("form", { class: "cs-lead", novalidate: true, "aria-labelledby": "cs-lt" + n }, [
      h("h2", { id: "cs-lt" + n, text: "Talk to a person" }), h("p", { text: "Leave your details and someone will get back to you." })]);
    function field(name, label, input, box, required, type) {
      var err = h("div", { class: "cs-err", id: input.id + "-err" });
      controls[name] = { input: input, err: err, label: label, required: required, type: type };
      order.push(name);
      form.appendChild(h("div", { class: "cs-lf" }, [box, err]));
    }
    lf.fields.forEach(function (f, i) {
      var id = "cs-lf" + n + "-" + i, type = /^(email|tel)$/.test(f.type) ? f.type : "text", label = str(f.label).trim() || f.name;
      var attrs = { id: id, name: f.name, required: !!f.required };
      var input = f.type === "textarea" ? h("textarea", Object.assign(attrs, { rows: 3 }))
        : h("input", Object.assign(attrs, { type: type, autocomplete: type !== "text" ? type : f.name === "name" ? "name" : null }));
      field(f.name, label, input, h("div", null, [
        h("label", { for: id }, [label, f.required ? h("span", { class: "cs-req", "aria-hidden": "true", text: "*" }) : null]), input]), !!f.required, f.type);
    });
    var consent = h("input", { id: "cs-lf" + n + "-c", name: "consent", type: "checkbox", required: true });
    field("consent", "consent", consent, h("div", { class: "cs-consent" }, [consent, h("label", { for: consent.id, text: lf.consent })]), true);
    var submit = h("button", { type: "submit", class: "cs-lead-submit", text: "Submit" });
    form.appendChild(formErr);
    form.appendChild(h("div", { class: "cs-lead-btns" }, [
      h("button", { type: "button", class: "cs-lead-cancel", text: "Not now", onclick: function () { dropLeadForm(); ui.input.focus(); } }),
      submit]));

    function setErr(name, msg) {
      var c = controls[name];
      c.err.textContent = msg || "";
      if (msg) { c.input.setAttribute("aria-invalid", "true"); c.input.setAttribute("aria-describedby", c.err.id); }
      else { c.input.removeAttribute("aria-invalid"); c.input.removeAttribute("aria-describedby"); }
    }
    /* the server's verdict on a value, in its words */
    function check(k, v) {
      var c = controls[k], digits = String(v).replace(/\D/g, "").length;
      if (!v) return !c.required ? "" : k === "consent" ? "Tick this box to leave your details" : c.label + " is required";
      if (c.type === "email" && !EMAIL.test(v)) return "Enter an email address like name@example.com";
      if (c.type === "tel" && (!PHONE.test(v) || digits < 6 || digits > 20)) return "Enter a phone number like +44 20 7946 0958";
      return "";
    }
    function focusInvalid() {
      var bad = form.querySelector("[aria-invalid=true]");
      if (bad) bad.focus();
      return bad;
    }
    order.forEach(function (k) {
      var input = controls[k].input;
      input.addEventListener(k === "consent" ? "change" : "input", function () { setErr(k, ""); });
      if (k !== "consent") input.addEventListener("change", function () { if (input.value.trim()) setErr(k, check(k, input.value.trim())); });
    });
    form.addEventListener("input", function () { form.touched = true; });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (state.leadBusy || state.off) return;
      var values = {};
      formErr.textContent = "";
      order.forEach(function (k) {
        var v = k === "consent" ? consent.checked : controls[k].input.value.trim();
        if (v && k !== "consent") values[k] = v;
        setErr(k, check(k, v));
      });
      if (focusInvalid()) return;
      state.leadBusy = submit.disabled = true;
      call(API + "/leads", { fields: values, consent: true, consent_version: lf.version, page_url: location.href }).then(function (res) {
        state.leadBusy = submit.disabled = false;
        if (res.ok) {
          var last = conv.messages[conv.messages.length - 1];
          conv.lead = { after_message_id: last ? last.id : null, message: res.data.message };
          dropLeadForm(); /* the confirmation joins the conversation, so later messages follow it */
          ui.log.appendChild(thanksEl(res.data.message));
          updateChrome();
          scrollDown();
          ui.input.focus();
        } else if (unavailable(res)) { /* e.g. lead capture was switched off: the chat itself may still work */
          formErr.textContent = str(res.data.message) || "This chat is not available here.";
        } else {
          var fields = res.status === 400 && res.data.fields && typeof res.data.fields === "object" ? res.data.fields : {}, other = [];
          Object.keys(fields).forEach(function (k) { if (controls[k]) setErr(k, String(fields[k])); else other.push(String(fields[k])); });
          formErr.textContent = other.join(" ") || (Object.keys(fields).length ? "" : errorText(res));
          if (!focusInvalid()) submit.focus();
        }
      });
    });
    return form;
  }

  /* ---------- start: the session call decides whether anything is shown at all ---------- */
  function start(attempt) {
    sessionCall(false).then(function (res) {
      if (res.ok && res.data.token) {
        applySession(res.data, false);
        var go = function () {
          if (ui || document.querySelector('chatspark-widget[data-agent="' + agentId + '"]')) return; /* loaded twice */
          build();
          if (load("sessionStorage", OPEN_KEY) === "1") {
            setOpen(true, false); /* restored after navigation; focus is left where the host page put it */
            scrollDown();
          }
        };
        if (document.body) go(); else document.addEventListener("DOMContentLoaded", go, { once: true });
      } else if (unavailable(res) || res.network) {
        /* The script itself just came from this appliance, so an unreadable answer is almost always a refused origin
           (no CORS headers on refusals); a genuine outage gets another chance on the next page load. The embedder
           reads why in the console, or on the appliance's own preview page; visitors see nothing. */
        var here = location.origin, why = "ChatSpark: agent " + agentId + " is not available on " + here +
          ". To show it here, add " + here + " to the agent's allowed origins.";
        console.warn(why);
        var box = here === BASE && document.getElementById("chatspark-preview-status");
        if (box) { box.textContent = why; box.hidden = false; }
      } else if ((res.status === 429 || res.status >= 500) && attempt < 2) {
        setTimeout(function () { start(attempt + 1); }, Math.min(res.status === 429 ? retryAfter(res) : 5 * (attempt + 1), 60) * 1000);
      } else {
        console.info("ChatSpark: the chat could not be loaded (HTTP " + res.status + ")");
      }
    });
  }
  start(0);
})();
