/*
 * Social CRM web chat widget. Embed with one tag (the channel admin page shows it):
 *   <script src="https://crm.example.com/static/webchat/widget.js" data-channel="<channel key>" async></script>
 * Optional: data-api="https://crm.example.com" when the API is not on the script's own origin.
 *
 * The widget lives in a shadow root (the page's CSS cannot break it, its CSS cannot leak out), keeps the
 * visitor's token in localStorage, polls every second while open, and renders every text with textContent.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.getAttribute("data-channel") || window.__scrmWebchatLoaded) {
    return;
  }
  window.__scrmWebchatLoaded = true;

  var channelKey = script.getAttribute("data-channel");
  var scriptUrl = new URL(script.src, window.location.href);
  var apiBase = (script.getAttribute("data-api") || scriptUrl.origin).replace(/\/+$/, "");
  var chatUrl = apiBase + "/chat/" + encodeURIComponent(channelKey);
  var cssUrl = scriptUrl.href.replace(/widget\.js(\?.*)?$/, "widget.css");
  var storageKey = "scrm-webchat:" + channelKey;
  var OPEN_POLL_MS = 1000;
  var CLOSED_POLL_MS = 15000;
  var MAX_TEXT = 5000;

  var memoryStore = {};
  function load() {
    var raw = null;
    try {
      raw = window.localStorage.getItem(storageKey);
    } catch (e) {
      raw = memoryStore[storageKey] || null;
    }
    try {
      return raw ? JSON.parse(raw) || {} : {};
    } catch (e) {
      return {};
    }
  }
  function save(state) {
    var raw = JSON.stringify(state);
    try {
      window.localStorage.setItem(storageKey, raw);
    } catch (e) {
      memoryStore[storageKey] = raw;
    }
  }

  var stored = load();
  var token = stored.token || "";
  var cursor = 0;
  var seen = {};
  var pendingByClientId = {};
  // Messages are posted one after the other, so they reach the server (which stamps their time) in the
  // order the visitor wrote them, even when the second is sent before the first is answered.
  var sendQueue = Promise.resolve();
  var isOpen = false;
  var unread = 0;
  var pollTimer = null;
  var polling = false;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  // --- The interface ---------------------------------------------------------------------------------------
  var host = el("div");
  host.id = "scrm-webchat";
  var shadow = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var stylesheet = el("link");
  stylesheet.rel = "stylesheet";
  stylesheet.href = cssUrl;

  var wrapper = el("div", "scrm-wc scrm-wc-loading");
  var launcher = el("button", "scrm-wc-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "Open chat");
  launcher.setAttribute("aria-expanded", "false");
  launcher.appendChild(el("span", "scrm-wc-launcher-label", "Chat with us"));
  var badge = el("span", "scrm-wc-badge");
  badge.hidden = true;
  launcher.appendChild(badge);

  var panel = el("section", "scrm-wc-panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  var header = el("header", "scrm-wc-header");
  var title = el("h2", "scrm-wc-title", "Chat");
  var close = el("button", "scrm-wc-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  header.appendChild(title);
  header.appendChild(close);
  panel.setAttribute("aria-label", "Chat");

  var thread = el("div", "scrm-wc-thread");
  thread.setAttribute("role", "log");
  thread.setAttribute("aria-live", "polite");
  var welcome = el("p", "scrm-wc-welcome");
  welcome.hidden = true;
  thread.appendChild(welcome);

  var about = el("form", "scrm-wc-about");
  about.appendChild(el("p", "scrm-wc-about-hint", "Your name and e-mail (optional), so we can get back to you:"));
  var nameInput = el("input", "scrm-wc-name");
  nameInput.type = "text";
  nameInput.name = "name";
  nameInput.placeholder = "Name";
  nameInput.maxLength = 100;
  nameInput.autocomplete = "name";
  var emailInput = el("input", "scrm-wc-email");
  emailInput.type = "email";
  emailInput.name = "email";
  emailInput.placeholder = "E-mail";
  emailInput.maxLength = 254;
  emailInput.autocomplete = "email";
  about.appendChild(nameInput);
  about.appendChild(emailInput);
  nameInput.value = stored.name || "";
  emailInput.value = stored.email || "";
  about.hidden = Boolean(stored.started);

  var compose = el("form", "scrm-wc-compose");
  var textbox = el("textarea", "scrm-wc-text");
  textbox.name = "text";
  textbox.rows = 2;
  textbox.maxLength = MAX_TEXT;
  textbox.placeholder = "Write a message…";
  textbox.setAttribute("aria-label", "Message");
  var send = el("button", "scrm-wc-send", "Send");
  send.type = "submit";
  compose.appendChild(textbox);
  compose.appendChild(send);
  var status = el("p", "scrm-wc-status");
  status.setAttribute("role", "status");

  panel.appendChild(header);
  panel.appendChild(thread);
  panel.appendChild(about);
  panel.appendChild(compose);
  panel.appendChild(status);
  wrapper.appendChild(panel);
  wrapper.appendChild(launcher);
  shadow.appendChild(stylesheet);
  shadow.appendChild(wrapper);

  function showWidget() {
    wrapper.className = "scrm-wc";
  }
  stylesheet.addEventListener("load", showWidget);
  stylesheet.addEventListener("error", showWidget);

  function showStatus(text) {
    status.textContent = text || "";
  }

  function scrollDown() {
    thread.scrollTop = thread.scrollHeight;
  }

  function bubble(from, text, author) {
    var item = el("div", "scrm-wc-msg scrm-wc-from-" + from);
    if (author) {
      item.appendChild(el("span", "scrm-wc-author", author));
    }
    item.appendChild(el("span", "scrm-wc-body", text));
    thread.appendChild(item);
    scrollDown();
    return item;
  }

  function setBadge() {
    badge.hidden = unread === 0;
    badge.textContent = unread ? String(unread) : "";
  }

  // --- The server ------------------------------------------------------------------------------------------
  function call(method, path, body) {
    var headers = { Accept: "application/json" };
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    return fetch(chatUrl + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      mode: "cors",
      cache: "no-store",
    }).then(function (response) {
      // (A refused origin is hidden by the browser and ends in the catch below, as a network error does.)
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            var error = new Error(data.error || "the chat is unavailable (" + response.status + ")");
            error.status = response.status;
            throw error;
          }
          return data;
        });
    }, function () {
      throw new Error("the chat cannot be reached right now");
    });
  }

  function startSession() {
    return call("POST", "/session", { token: token }).then(function (data) {
      var changed = data.token !== token;
      token = data.token;
      stored = load();
      stored.token = token;
      if (changed) {
        stored.started = false;
        about.hidden = false;
      }
      save(stored);
      title.textContent = data.title || "Chat";
      panel.setAttribute("aria-label", data.title || "Chat");
      welcome.textContent = data.welcome || "";
      welcome.hidden = !data.welcome;
    });
  }

  function receive(messages) {
    messages.forEach(function (message) {
      if (seen[message.id]) {
        return;
      }
      seen[message.id] = true;
      var pending = message.client_id && pendingByClientId[message.client_id];
      if (pending) {
        pending.classList.remove("scrm-wc-pending");
        delete pendingByClientId[message.client_id];
        return;
      }
      bubble(message.from, message.text, message.author);
      if (message.from === "business" && !isOpen) {
        unread += 1;
        setBadge();
      }
    });
  }

  function schedulePoll(delay) {
    window.clearTimeout(pollTimer);
    pollTimer = window.setTimeout(poll, delay);
  }

  function poll() {
    if (!token || polling || (!isOpen && !load().started)) {
      schedulePoll(isOpen ? OPEN_POLL_MS : CLOSED_POLL_MS);
      return;
    }
    polling = true;
    call("GET", "/messages?after=" + cursor)
      .then(function (data) {
        receive(data.messages || []);
        cursor = data.cursor || cursor;
        if (isOpen) {
          showStatus("");
        }
      })
      .catch(function (error) {
        if (error.status === 401 || error.status === 403) {
          token = "";
          return startSession();
        }
        if (isOpen) {
          showStatus("Reconnecting…");
        }
        return undefined;
      })
      .then(function () {
        polling = false;
        schedulePoll(isOpen ? OPEN_POLL_MS : CLOSED_POLL_MS);
      });
  }

  function newMessageId() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function deliver(item, payload) {
    item.classList.remove("scrm-wc-failed");
    item.classList.add("scrm-wc-pending");
    var posted = sendQueue.then(function () {
      return call("POST", "/messages", payload);
    });
    sendQueue = posted.catch(function () {}); // a failed message does not hold up the next one
    posted
      .then(function () {
        stored = load();
        stored.started = true;
        stored.name = payload.name;
        stored.email = payload.email;
        save(stored);
        about.hidden = true;
        showStatus("");
        schedulePoll(0);
      })
      .catch(function (error) {
        item.classList.add("scrm-wc-failed");
        item.title = "Not sent: click to try again";
        showStatus("Not sent: " + error.message);
        item.onclick = function () {
          item.onclick = null;
          deliver(item, payload);
        };
      });
  }

  function submit(event) {
    event.preventDefault();
    var text = textbox.value.trim();
    if (!text) {
      return;
    }
    if (!token) {
      // The chat could not be reached when the page loaded: try again; the text stays for another Send.
      showStatus("Connecting…");
      startSession().then(
        function () {
          showStatus("Connected: press Send again.");
        },
        function (error) {
          showStatus(error.message);
        }
      );
      return;
    }
    var id = newMessageId();
    var item = bubble("visitor", text, "");
    pendingByClientId[id] = item;
    textbox.value = "";
    deliver(item, { id: id, text: text, name: nameInput.value.trim(), email: emailInput.value.trim() });
  }

  function setOpen(open) {
    isOpen = open;
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (open) {
      unread = 0;
      setBadge();
      textbox.focus();
      schedulePoll(0);
    }
  }

  compose.addEventListener("submit", submit);
  about.addEventListener("submit", function (event) {
    event.preventDefault();
    textbox.focus();
  });
  textbox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      submit(event);
    }
  });
  launcher.addEventListener("click", function () {
    setOpen(!isOpen);
  });
  close.addEventListener("click", function () {
    setOpen(false);
  });

  function mount() {
    document.body.appendChild(host);
    startSession()
      .catch(function (error) {
        showStatus(error.message);
      })
      .then(function () {
        schedulePoll(0);
      });
  }
  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
