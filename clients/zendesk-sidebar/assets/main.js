/* Strata orders: the ticket requester's orders and one order's context, in the ticket sidebar.
 *
 * Every call goes through client.request with secure: true, so Zendesk's proxy fills in the
 * API address and the credential (a signed JWT from the shared secret, or a token) and the
 * browser never sees them. Data is written with textContent only: nothing from the API is
 * parsed as HTML.
 */
(function () {
  "use strict";

  var STRINGS = {
    loading: "Loading orders…",
    loading_order: "Loading order…",
    no_email: "This ticket's requester has no email address.",
    empty: "No orders for {{email}} in your shops.",
    error: "Orders could not be loaded: {{message}}",
    retry: "Try again",
    partial: "Some systems did not answer: {{sections}}",
    age: "Data {{seconds}} s old",
    awaiting_shopify: "not yet in Shopify"
  };
  var HEADLINES = {
    needs_attention: "Needs attention",
    cancelled: "Cancelled",
    refunded: "Refunded",
    returned: "Returned",
    shipped: "Shipped",
    processing: "Processing",
    received: "Received"
  };
  var TIMELINE_ROWS = 8;

  var client = window.ZAFClient.init();
  var root = document.getElementById("app");
  var settings = null;
  var account = null;
  var agent = null;

  function t(key, values) {
    return STRINGS[key].replace(/\{\{(\w+)\}\}/g, function (_, name) {
      return values && values[name] != null ? String(values[name]) : "";
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs.text;
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function show(nodes) {
    root.replaceChildren.apply(root, nodes);
    client.invoke("resize", { width: "100%", height: Math.min(document.body.scrollHeight + 8, 640) + "px" });
  }

  function showState(kind, text, retry) {
    var p = el("p", { class: "state state-" + kind, "data-state": kind, text: text });
    if (retry) {
      var button = el("button", { class: "retry", type: "button", text: t("retry") });
      button.addEventListener("click", retry);
      p.appendChild(button);
    }
    show([p]);
  }

  function problemText(error) {
    // client.request rejects with the jQuery-like response of a failed call.
    var body = error && (error.responseJSON || safeJson(error.responseText));
    if (body && (body.detail || body.title)) return body.detail || body.title;
    if (error && error.status) return "HTTP " + error.status;
    return (error && error.message) || "unknown error";
  }

  function safeJson(text) {
    try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
  }

  function api(path) {
    var options = {
      url: "{{setting.api_url}}" + path,
      type: "GET",
      dataType: "json",
      secure: true,
      cors: false
    };
    if (settings.auth_mode === "token") {
      options.headers = { Authorization: "Bearer {{setting.token}}" };
    } else {
      // Zendesk's proxy signs this JWT with the shared secret; Strata checks it and takes the
      // Zendesk account in iss as the tenant.
      options.jwt = {
        algorithm: "HS256",
        secret_key: "{{setting.shared_secret}}",
        expiry: 60,
        claims: {
          iss: account + ".zendesk.com",
          aud: settings.api_audience || "strata",
          sub: String(agent)
        }
      };
      options.headers = { Authorization: "Bearer {{jwt.token}}" };
    }
    return client.request(options);
  }

  function money(amount) {
    return amount ? amount.amount + " " + amount.currency : "";
  }

  function day(iso) {
    return iso ? String(iso).slice(0, 10) : "";
  }

  function orderList(listing, selected) {
    var items = listing.items.map(function (order) {
      var button = el("button", {
        type: "button",
        "data-order": order.order_id,
        "aria-pressed": String(order.order_id === selected)
      }, [
        el("span", { text: (order.erp_number || order.order_id) + " · " + day(order.placed_at) }),
        el("span", { class: "badge" + (order.needs_attention ? " badge-needs_attention" : ""),
                     text: order.needs_attention ? HEADLINES.needs_attention : (order.state || "") })
      ]);
      button.addEventListener("click", function () { loadOrder(listing, order); });
      return el("li", {}, [button]);
    });
    return el("ul", { class: "orders", "aria-label": "Orders" }, items);
  }

  function facts(rows) {
    var dl = el("dl", { class: "facts" });
    rows.forEach(function (row) {
      if (row[1] == null || row[1] === "") return;
      dl.appendChild(el("dt", { text: row[0] }));
      var dd = el("dd", { "data-fact": row[2] || "" });
      if (row[1] instanceof Node) dd.appendChild(row[1]); else dd.textContent = row[1];
      dl.appendChild(dd);
    });
    return dl;
  }

  // One link per parcel (an ERP shipment or a Shopify fulfillment, whichever side made it),
  // each named by its carrier; an ERP shipment Shopify has no fulfillment of yet says so.
  function parcel(shipment) {
    var line = el("li", { "data-shipment": shipment.number, "data-source": shipment.source || "erp" }, [
      el("span", { text: shipment.number + " (" + shipment.state + ") " })
    ]);
    var parcels = shipment.tracking && shipment.tracking.length ? shipment.tracking
      : [{ number: shipment.tracking_number, url: shipment.tracking_url }];
    var named = false;
    parcels.forEach(function (p) {
      var label = [shipment.carrier, p.number].filter(Boolean).join(" ");
      if (p.url && /^https:\/\//.test(p.url)) {
        line.appendChild(el("a", { href: p.url, target: "_blank", rel: "noopener noreferrer",
                                   class: "tracking", text: label || shipment.number }));
      } else if (label) {
        line.appendChild(el("span", { class: "tracking-text", text: label }));
      } else {
        return;
      }
      named = true;
      line.appendChild(document.createTextNode(" "));
    });
    if (!named && shipment.carrier) line.appendChild(el("span", { text: shipment.carrier }));
    if (shipment.awaiting_shopify) {
      line.appendChild(el("span", { class: "badge badge-awaiting", "data-awaiting": "shopify",
                                    text: t("awaiting_shopify") }));
    }
    return line;
  }

  function section(title, items, render, name) {
    if (!items || !items.length) return null;
    return el("section", { class: name, "data-section": name }, [
      el("h2", { text: title }), el("ul", {}, items.map(render))
    ]);
  }

  function contextView(context) {
    var order = context.order;
    var erp = context.erp;
    var nodes = [];
    var unavailable = context.sections.filter(function (s) { return s.status !== "ok"; });
    nodes.push(el("p", {}, [
      el("span", { class: "badge badge-" + context.headline, "data-headline": context.headline,
                   text: HEADLINES[context.headline] || context.headline })
    ]));
    nodes.push(facts([
      ["Order", order ? order.name : context.order_id, "order"],
      ["Placed", order ? day(order.placed_at) : null],
      ["Total", order ? money(order.total) : null],
      ["Payment", order ? order.financial_status : null],
      ["ERP", erp ? [erp.number || erp.id, erp.instance ? "(" + erp.instance + ")" : ""].join(" ") : null, "erp-number"],
      ["ERP status", erp ? erp.status : null, "erp-status"],
      ["Pipeline", context.pipeline ? context.pipeline.state : null, "pipeline"]
    ]));
    nodes.push(section("Exceptions", context.exceptions, function (ex) {
      return el("li", { class: "exception", "data-exception": ex.kind, text: ex.kind + ": " + ex.error });
    }, "exceptions"));
    nodes.push(section("Shipments", context.shipments, parcel, "shipments"));
    nodes.push(section("Returns", context.returns, parcel, "returns"));
    nodes.push(section("Refunds", context.refunds, function (refund) {
      return el("li", { text: day(refund.created_at) + " " + money(refund.amount) + (refund.note ? " · " + refund.note : "") });
    }, "refunds"));
    nodes.push(section("Invoices", context.invoices, function (invoice) {
      return el("li", { text: invoice.number + " " + money(invoice.total) + " (" + invoice.state + ")" });
    }, "invoices"));
    nodes.push(section("Credit notes", context.credit_notes, function (note) {
      return el("li", { text: note.number + " " + money(note.total) });
    }, "credit-notes"));
    nodes.push(section("Timeline", context.timeline.slice(-TIMELINE_ROWS).reverse(), function (event) {
      return el("li", {}, [el("time", { datetime: event.at, text: day(event.at) }),
                           el("span", { text: event.title + (event.detail ? " · " + event.detail : "") })]);
    }, "timeline"));
    if (unavailable.length) {
      nodes.push(el("p", { class: "partial", "data-state": "partial", text: t("partial", {
        sections: unavailable.map(function (s) { return s.name.replace(/_/g, " "); }).join(", ")
      }) }));
    }
    nodes.push(el("p", { class: "age", text: t("age", { seconds: Math.round(context.age_seconds) }) }));
    return el("article", { class: "context", "data-order": context.order_id }, nodes.filter(Boolean));
  }

  function loadOrder(listing, order) {
    var list = orderList(listing, order.order_id);
    show([list, el("p", { class: "state state-loading", "data-state": "loading", text: t("loading_order") })]);
    api("/service-desk/v1/orders/" + encodeURIComponent(order.shop) + "/" +
        encodeURIComponent(order.order_id) + "/context")
      .then(function (context) { show([list, contextView(context)]); })
      .catch(function (error) {
        show([list, el("p", { class: "state state-error", "data-state": "error",
                              text: t("error", { message: problemText(error) }) })]);
      });
  }

  function loadOrders() {
    showState("loading", t("loading"));
    client.get("ticket.requester.email")
      .then(function (data) {
        var email = data["ticket.requester.email"];
        if (!email) { showState("empty", t("no_email")); return null; }
        return api("/service-desk/v1/customers/" + encodeURIComponent(email) + "/orders?limit=10")
          .then(function (listing) {
            if (!listing.items.length) { showState("empty", t("empty", { email: email })); return; }
            loadOrder(listing, listing.items[0]);
          });
      })
      .catch(function (error) { showState("error", t("error", { message: problemText(error) }), loadOrders); });
  }

  function start() {
    Promise.all([client.metadata(), client.context(), client.get("currentUser.id")])
      .then(function (answers) {
        settings = answers[0].settings || {};
        account = answers[1].account && answers[1].account.subdomain;
        agent = answers[2]["currentUser.id"];
        loadOrders();
      })
      .catch(function (error) { showState("error", t("error", { message: problemText(error) }), start); });
  }

  client.on("app.registered", start);
  client.on("ticket.requester.email.changed", loadOrders);
})();
