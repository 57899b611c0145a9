/* Similar proposals while typing a title (progressive enhancement: without JavaScript, the form's review
   step shows them before anything is stored). Text from the server is inserted with textContent only. */
(function () {
  "use strict";
  var box = document.getElementById("similar-live");
  var input = document.querySelector("[data-similar-source]");
  if (!box || !input || !window.fetch) { return; }
  var timer = null;
  var lastQuery = "";
  var controller = null;

  function render(items) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    if (!items.length) { return; }
    var title = document.createElement("p");
    title.textContent = box.dataset.title;
    box.appendChild(title);
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = item.url;
      a.textContent = item.title;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" (" + item.organisation + ")"));
      list.appendChild(li);
    });
    box.appendChild(list);
  }

  function lookup() {
    var q = input.value.trim();
    if (q === lastQuery) { return; }
    lastQuery = q;
    if (q.length < 4) { render([]); return; }
    if (controller) { controller.abort(); }
    controller = window.AbortController ? new AbortController() : null;
    fetch(box.dataset.url + "?q=" + encodeURIComponent(q), {
      headers: { "Accept": "application/json" }, credentials: "same-origin",
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.ok ? response.json() : { items: [] };
    }).then(function (data) { render(data.items || []); }).catch(function () { /* aborted or offline */ });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(lookup, 300);
  });
}());
