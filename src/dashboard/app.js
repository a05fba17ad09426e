// cardseg dashboard: fills the page from the embedded JSON. Data strings reach the DOM
// only through textContent, and plotly only through esc(), because plotly labels
// interpret a few HTML tags. When every chart has drawn, a JSON self-check is written
// to <pre id="selfcheck"> for automated tests (see tests/dashboard_browser.rs).
(function () {
  'use strict';
  var rec = window.__cardseg || { errors: [], alerts: [], violations: [] };
  var D;
  try {
    D = JSON.parse(document.getElementById('cardseg-data').textContent);
  } catch (e) {
    rec.errors.push('cannot read the embedded data: ' + e.message);
    writeCheck({ ok: false });
    return;
  }

  // ---- formatting and DOM helpers ------------------------------------------------
  var nfInt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  var nfExact = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 6 });
  function $(id) { return document.getElementById(id); }
  function count(n) { return nfInt.format(n); }
  function pct(v) { return (v * 100).toFixed(1) + '%'; }
  function finite(v) { return typeof v === 'number' && isFinite(v); }
  // Same rules as the Rust report's human(): readable, not exact.
  function human(v) {
    if (!finite(v)) return 'n/a';
    var a = Math.abs(v);
    if (a >= 1000) return nfInt.format(v);
    if (a >= 100) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    return v.toFixed(3);
  }
  function exact(v) { return finite(v) ? nfExact.format(v) : 'n/a'; }
  // Text for plotly labels, which read <b>, <br>, <a> and entities: show it literally.
  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function swatch(color) {
    var s = el('span', 'swatch');
    s.style.background = color;
    return s;
  }
  var FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  var CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['sendDataToCloud'] };
  var segs = D.segments;

  // ---- header and key figures ----------------------------------------------------
  document.title = 'Customer segments · ' + D.source;
  $('subtitle').textContent = count(D.customers) + ' customers from ' + D.source + ' · ' + D.k +
    ' segments on ' + D.features.join(', ');
  (function kpis() {
    var largest = segs.reduce(function (a, b) { return b.customers > a.customers ? b : a; }, segs[0]);
    var items = [
      ['Customers segmented', count(D.customers),
        D.customers_read !== D.customers ? count(D.customers_read) + ' read' : 'all customers read'],
      ['Segments', String(D.k), 'chosen by ' + (D.k_selection.rule === 'knee' ? 'the elbow (Kneedle)' : 'silhouette') +
        ' from k = ' + D.k_selection.sweep[0].k + '…' + D.k_selection.sweep[D.k_selection.sweep.length - 1].k],
      ['Silhouette', D.silhouette.toFixed(3), D.silhouette_method + '; 1 = well separated, 0 = overlapping'],
      ['Largest segment', pct(largest.share), largest.name]
    ];
    items.forEach(function (it) {
      var box = el('div', 'kpi');
      box.appendChild(el('div', 'label', it[0]));
      box.appendChild(el('div', 'value', it[1]));
      box.appendChild(el('div', 'detail', it[2]));
      $('kpis').appendChild(box);
    });
  })();

  // ---- the scatter -----------------------------------------------------------------
  var dims = D.axes.length;
  var kind = dims >= 3 ? '3d' : dims === 2 ? '2d' : 'strip';
  // Smallest positive value per axis: where values <= 0 are drawn on log axes.
  // The features on the axes (indices into D.features): the first three, selectable.
  var pick = D.axes.map(function (a) { return D.features.indexOf(a); });
  function axisNames() { return pick.map(function (f) { return D.features[f]; }); }
  var floors = D.features.map(function (_, j) {
    var m = Infinity;
    segs.forEach(function (s) {
      s.values[j].forEach(function (v) { if (v > 0 && v < m) m = v; });
      if (s.centroid[j] > 0 && s.centroid[j] < m) m = s.centroid[j];
    });
    return m === Infinity ? null : m;
  });
  var nonPositive = D.features.map(function (_, j) {
    return segs.some(function (s) { return s.values[j].some(function (v) { return !(v > 0); }); });
  });
  // Hover text, rebuilt when the axes change: every data string escaped for plotly.
  var hover;
  function buildHover() {
    hover = segs.map(function (s) {
      var head = '<b>' + esc(s.name) + '</b><br>' + esc(D.id_label) + ': ';
      var labels = axisNames().map(function (a) { return '<br>' + esc(a) + ': '; });
      return s.ids.map(function (id, i) {
        var t = head + esc(id);
        for (var j = 0; j < dims; j++) t += labels[j] + exact(s.values[pick[j]][i]);
        return t;
      });
    });
  }
  buildHover();
  var markerSize = D.sample.shown > 20000 ? 2 : D.sample.shown > 5000 ? 2.6 : 3.6;
  // Deterministic jitter for the 1-feature strip view.
  function jitter(i) { return (((i * 2654435761) % 1000) / 1000 - 0.5) * 0.6; }

  function axisValues(arr, j, log) {
    if (!log || floors[j] === null) return arr;
    var f = floors[j];
    return arr.map(function (v) { return v > 0 ? v : f; });
  }

  function scatterTraces(log) {
    var traces = [];
    segs.forEach(function (s, si) {
      var v = pick.map(function (f) { return axisValues(s.values[f], f, log); });
      var t = {
        name: esc(s.name), legendgroup: 'g' + si, text: hover[si], hoverinfo: 'text', mode: 'markers',
        marker: { color: s.color, size: kind === '3d' ? markerSize : markerSize + 2, opacity: 0.8 }
      };
      if (kind === '3d') { t.type = 'scatter3d'; t.x = v[0]; t.y = v[1]; t.z = v[2]; }
      else if (kind === '2d') { t.type = 'scatter'; t.x = v[0]; t.y = v[1]; }
      else { t.type = 'scatter'; t.x = v[0]; t.y = s.ids.map(function (_, i) { return si + jitter(i); }); }
      traces.push(t);
    });
    segs.forEach(function (s, si) {
      var c = pick.map(function (f) { return axisValues([s.centroid[f]], f, log)[0]; });
      var text = '<b>Centre of ' + esc(s.name) + '</b>' + D.features.map(function (f, j) {
        return '<br>' + esc(f) + ': ' + exact(s.centroid[j]);
      }).join('');
      var t = {
        name: 'Centre: ' + esc(s.name), legendgroup: 'g' + si, showlegend: false, hoverinfo: 'text', text: [text],
        mode: 'markers', marker: { color: s.color, symbol: 'diamond', size: kind === '3d' ? 11 : 14, line: { color: '#1f2933', width: 2 } }
      };
      if (kind === '3d') { t.type = 'scatter3d'; t.x = [c[0]]; t.y = [c[1]]; t.z = [c[2]]; }
      else if (kind === '2d') { t.type = 'scatter'; t.x = [c[0]]; t.y = [c[1]]; }
      else { t.type = 'scatter'; t.x = [c[0]]; t.y = [si]; }
      traces.push(t);
    });
    return traces;
  }

  function axis(j, log) {
    var f = pick[j];
    var isLog = log && floors[f] !== null;
    return {
      title: { text: esc(D.features[f]) + (isLog ? ' (log)' : '') }, type: isLog ? 'log' : 'linear',
      gridcolor: '#e3e8ee', zerolinecolor: '#c7cfd9', automargin: true
    };
  }

  function scatterLayout(log) {
    var layout = {
      font: { family: FONT, size: 12, color: '#1f2933' }, paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      margin: { l: 0, r: 0, t: 4, b: 0 }, uirevision: 'keep',
      legend: { orientation: 'h', x: 0, y: 0, xanchor: 'left', yanchor: 'top', itemsizing: 'constant',
        font: { size: 12.5 } },
      hoverlabel: { font: { family: FONT } }
    };
    if (kind === '3d') {
      layout.scene = { xaxis: axis(0, log), yaxis: axis(1, log), zaxis: axis(2, log), aspectmode: 'cube',
        camera: { eye: { x: 1.45, y: -1.45, z: 0.8 } } };
    } else {
      layout.margin = { l: 10, r: 10, t: 10, b: 10 };
      layout.legend.y = 1.02;
      layout.legend.yanchor = 'bottom';
      layout.xaxis = axis(0, log);
      if (kind === '2d') layout.yaxis = axis(1, log);
      else layout.yaxis = { tickvals: segs.map(function (_, i) { return i; }), ticktext: segs.map(function (s) { return esc(s.name); }),
        automargin: true, zeroline: false, gridcolor: '#f0f2f5' };
    }
    return layout;
  }

  function scatterNote(log) {
    var parts = [];
    if (D.sample.sampled) {
      parts.push('Showing a stratified sample of ' + count(D.sample.shown) + ' of ' + count(D.sample.total) +
        ' customers (each segment in proportion, at least ' + D.sample.min_per_segment + ' per segment, seed ' +
        D.sample.seed + '); sizes, profiles and the summary use all ' + count(D.sample.total) + '.');
    } else {
      parts.push('Showing all ' + count(D.sample.total) + ' customers.');
    }
    if (D.features.length > dims) {
      parts.push('Axes: ' + dims + ' of the ' + D.features.length + ' clustering features, chosen above (the principal-component view below uses all of them).');
    }
    parts.push('Values in input units.');
    if (log) {
      var clamped = pick.filter(function (f) { return nonPositive[f] && floors[f] !== null; }).map(function (f) {
        return D.features[f] + ' at ' + exact(floors[f]);
      });
      if (clamped.length) parts.push('Log axes: values of 0 or less are drawn at the smallest positive value (' + clamped.join('; ') + '); hover shows the true value.');
      var linear = axisNames().filter(function (_, j) { return floors[pick[j]] === null; });
      if (linear.length) parts.push('No positive values, so kept linear: ' + linear.join(', ') + '.');
    }
    $('scatter-note').textContent = parts.join(' ');
  }

  var scatterTitle = kind === '3d' ? 'Customers in 3D: ' : kind === '2d' ? 'Customers in 2D: ' : 'Customers by ';
  $('scatter-title').textContent = scatterTitle + axisNames().join(' × ');
  scatterNote(false);
  $('scatter-hint').textContent = (kind === '3d' ? 'Drag to rotate, scroll to zoom' : 'Drag to zoom, double-click to reset') +
    ', hover a point for the customer. Click a segment in the legend to hide or show it; double-click it to show it alone. ' +
    'Diamonds mark segment centres.';
  var plots = [];
  plots.push(Plotly.newPlot('scatter', scatterTraces(false), scatterLayout(false), CONFIG));
  function applyLog(log) {
    $('log-axes').checked = log;
    scatterNote(log);
    return Plotly.react('scatter', scatterTraces(log), scatterLayout(log), CONFIG);
  }
  $('log-axes').addEventListener('change', function (e) { applyLog(e.target.checked); });
  // With more than three features, each axis can show any of them.
  if (D.features.length > dims) {
    ['x', 'y', 'z'].slice(0, dims).forEach(function (name, j) {
      var label = el('label', 'toggle', name + ' ');
      var sel = document.createElement('select');
      sel.id = 'axis-' + name;
      sel.setAttribute('autocomplete', 'off');
      D.features.forEach(function (f, fi) {
        var o = el('option', null, f);
        o.value = String(fi);
        if (fi === pick[j]) o.selected = true;
        sel.appendChild(o);
      });
      sel.addEventListener('change', function (e) {
        pick[j] = Number(e.target.value);
        buildHover();
        $('scatter-title').textContent = scatterTitle + axisNames().join(' × ');
        applyLog($('log-axes').checked);
      });
      label.appendChild(sel);
      $('axis-pick').appendChild(label);
    });
  }

  // ---- segment sizes ---------------------------------------------------------------
  (function sizes() {
    var max = Math.max.apply(null, segs.map(function (s) { return s.share; }));
    segs.forEach(function (s) {
      var row = el('div', 'row');
      row.appendChild(swatch(s.color));
      row.appendChild(el('span', 'name', s.id + '. ' + s.name));
      row.appendChild(el('span', 'count', count(s.customers) + ' · ' + pct(s.share)));
      var bar = el('div', 'bar');
      var fill = el('span');
      fill.style.width = (max > 0 ? (s.share / max) * 100 : 0).toFixed(2) + '%';
      fill.style.background = s.color;
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el('span', 'centre', 'Centre: ' + D.features.map(function (f, j) {
        return f + ' ' + human(s.centroid[j]);
      }).join(' · ')));
      $('sizes').appendChild(row);
    });
  })();

  // ---- k selection charts ----------------------------------------------------------
  var sweep = D.k_selection.sweep;
  var chosen = D.k_selection.chosen;
  function smallLayout(ytitle) {
    return {
      font: { family: FONT, size: 12, color: '#1f2933' }, paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      margin: { l: 10, r: 16, t: 10, b: 10 }, showlegend: false,
      xaxis: { title: { text: 'k (number of segments)' }, dtick: 1, gridcolor: '#eef1f5', automargin: true },
      yaxis: { title: { text: ytitle }, gridcolor: '#eef1f5', automargin: true, zeroline: false },
      annotations: []
    };
  }
  function rowAt(k) { return sweep.filter(function (r) { return r.k === k; })[0]; }
  function mark(layout, k, y, text, ay) {
    layout.annotations.push({ x: k, y: y, text: text, showarrow: true, arrowhead: 0, ax: 34, ay: ay,
      font: { size: 12, color: '#c0392b' }, bgcolor: 'rgba(255,255,255,0.85)' });
  }
  (function elbow() {
    var layout = smallLayout('inertia (scaled units)');
    var traces = [{ type: 'scatter', mode: 'lines+markers', x: sweep.map(function (r) { return r.k; }),
      y: sweep.map(function (r) { return r.inertia; }), line: { color: '#4e79a7', width: 2 }, marker: { size: 7 },
      hovertemplate: 'k = %{x}<br>inertia %{y:,.4~g}<extra></extra>' }];
    var c = rowAt(chosen);
    if (c) {
      traces.push({ type: 'scatter', mode: 'markers', x: [chosen], y: [c.inertia], hoverinfo: 'skip',
        marker: { size: 16, color: 'rgba(0,0,0,0)', line: { color: '#e15759', width: 3 } } });
      mark(layout, chosen, c.inertia, 'chosen k = ' + chosen, -36);
    }
    var knee = D.k_selection.knee;
    if (knee !== null && knee !== chosen && rowAt(knee)) mark(layout, knee, rowAt(knee).inertia, 'knee', -30);
    plots.push(Plotly.newPlot('elbow', traces, layout, CONFIG));
  })();
  (function silhouette() {
    var layout = smallLayout('mean silhouette');
    var se = sweep.map(function (r) { return r.std_error === null ? 0 : 1.96 * r.std_error; });
    var sampled = sweep.some(function (r) { return r.std_error !== null; });
    var traces = [{ type: 'scatter', mode: 'lines+markers', x: sweep.map(function (r) { return r.k; }),
      y: sweep.map(function (r) { return r.silhouette; }), line: { color: '#59a14f', width: 2 }, marker: { size: 7 },
      error_y: { type: 'data', array: se, visible: sampled, color: '#8fbf84', thickness: 1.2, width: 4 },
      hovertemplate: 'k = %{x}<br>silhouette %{y:.3f}<extra></extra>' }];
    var c = rowAt(chosen);
    if (c) {
      traces.push({ type: 'scatter', mode: 'markers', x: [chosen], y: [c.silhouette], hoverinfo: 'skip',
        marker: { size: 16, color: 'rgba(0,0,0,0)', line: { color: '#e15759', width: 3 } } });
      mark(layout, chosen, c.silhouette, 'chosen k = ' + chosen, 36);
    }
    var best = D.k_selection.best_silhouette;
    if (best !== null && best !== chosen && rowAt(best)) mark(layout, best, rowAt(best).silhouette, 'best', 30);
    if (sampled) {
      layout.annotations.push({ xref: 'paper', yref: 'paper', x: 1, y: 1, xanchor: 'right', yanchor: 'top', showarrow: false,
        text: 'sampled estimate, bars = 95% interval', font: { size: 11, color: '#5f6b7a' } });
    }
    plots.push(Plotly.newPlot('silhouette', traces, layout, CONFIG));
  })();

  // ---- hand-drawn SVG (the embedded plotly bundle has no box or bar traces) ----------
  var SVGNS = 'http://www.w3.org/2000/svg';
  function svgEl(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function svgText(parent, x, y, text, attrs) {
    var t = svgEl('text', attrs || {}, parent);
    t.setAttribute('x', x); t.setAttribute('y', y);
    t.setAttribute('font-size', (attrs && attrs['font-size']) || '11');
    t.setAttribute('fill', (attrs && attrs.fill) || '#5f6b7a');
    t.textContent = text;
    return t;
  }
  function niceTicks(lo, hi, n) {
    var span = hi - lo || Math.abs(hi) || 1;
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    [1, 2, 5, 10].some(function (m) { if (span / (step * m) <= n) { step *= m; return true; } return false; });
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }

  // ---- distributions: box plots per segment ------------------------------------------
  (function distributions() {
    var dist = D.distributions;
    if (!dist.length) { $('dist-card').hidden = true; return; }
    var sel = $('dist-col');
    dist.forEach(function (d, i) {
      var o = el('option', null, d.column);
      o.value = String(i);
      sel.appendChild(o);
    });
    function draw(i) {
      var d = dist[i];
      var host = $('boxes');
      while (host.firstChild) host.removeChild(host.firstChild);
      var groups = [{ label: 'Portfolio', name: 'Portfolio', color: '#7b8794', b: d.portfolio }].concat(segs.map(function (s, si) {
        return { label: String(s.id), name: s.name, color: s.color, b: d.segments[si] };
      })).filter(function (g) { return g.b; });
      var W = 560, H = 300, L = 64, R = 10, T = 10, B = 34;
      var lo = Math.min.apply(null, groups.map(function (g) { return g.b.lower; }));
      var hi = Math.max.apply(null, groups.map(function (g) { return g.b.upper; }));
      if (!(hi > lo)) { hi = lo + 1; }
      var y = function (v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); };
      var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', height: '100%', preserveAspectRatio: 'xMidYMid meet', role: 'img' }, host);
      svgEl('title', {}, svg).textContent = 'Box plots of ' + d.column + ' by segment';
      niceTicks(lo, hi, 5).forEach(function (t) {
        svgEl('line', { x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: '#eef1f5' }, svg);
        svgText(svg, L - 6, y(t) + 4, human(t), { 'text-anchor': 'end' });
      });
      var slot = (W - L - R) / groups.length;
      groups.forEach(function (g, gi) {
        var cx = L + slot * (gi + 0.5), bw = Math.min(40, slot * 0.6), b = g.b;
        var grp = svgEl('g', { 'class': 'box' }, svg);
        svgEl('title', {}, grp).textContent = g.name + ': median ' + exact(b.median) + ', quartiles ' + exact(b.q1) + ' – ' +
          exact(b.q3) + ', whiskers ' + exact(b.lower) + ' – ' + exact(b.upper) + ' (' + count(b.n) + ' customers)';
        svgEl('line', { x1: cx, x2: cx, y1: y(b.upper), y2: y(b.q3), stroke: g.color, 'stroke-width': 1.5 }, grp);
        svgEl('line', { x1: cx, x2: cx, y1: y(b.q1), y2: y(b.lower), stroke: g.color, 'stroke-width': 1.5 }, grp);
        svgEl('line', { x1: cx - bw / 4, x2: cx + bw / 4, y1: y(b.upper), y2: y(b.upper), stroke: g.color, 'stroke-width': 1.5 }, grp);
        svgEl('line', { x1: cx - bw / 4, x2: cx + bw / 4, y1: y(b.lower), y2: y(b.lower), stroke: g.color, 'stroke-width': 1.5 }, grp);
        svgEl('rect', { 'class': 'box-body', x: cx - bw / 2, y: y(b.q3), width: bw, height: Math.max(1, y(b.q1) - y(b.q3)),
          fill: g.color, 'fill-opacity': 0.45, stroke: g.color, 'stroke-width': 1.5 }, grp);
        svgEl('line', { x1: cx - bw / 2, x2: cx + bw / 2, y1: y(b.median), y2: y(b.median), stroke: '#1f2933', 'stroke-width': 2 }, grp);
        svgText(svg, cx, H - B + 16, g.label, { 'text-anchor': 'middle' });
      });
      svgText(svg, L + (W - L - R) / 2, H - 4, 'segment (hover a box for its figures)', { 'text-anchor': 'middle' });
      var n = d.portfolio ? d.portfolio.n : 0;
      $('dist-note').textContent = d.column + ': boxes span the quartiles, the dark line is the median, whiskers reach the furthest values within 1.5 × IQR (Tukey); computed on ' +
        (D.sample.sampled ? 'the plotted stratified sample of ' + count(n) + ' customers' : 'all ' + count(n) + ' customers with a value') + '.';
    }
    draw(0);
    sel.addEventListener('change', function (e) { draw(Number(e.target.value)); });
  })();

  // ---- per-customer silhouettes of the chosen k (as yellowbrick's SilhouetteVisualizer) --
  (function silhouetteSamples() {
    var sp = D.silhouettes;
    var host = $('silplot');
    var gap = Math.max(4, Math.round(sp.shown / 80));
    var rows = segs.reduce(function (n, s, si) { return n + (sp.values[si] || []).length + gap; }, gap);
    var W = 560, H = 300, L = 40, R = 10, T = 14, B = 34;
    var minV = Math.min(-0.1, Math.min.apply(null, sp.values.map(function (v) { return v.length ? v[v.length - 1] : 0; })));
    var x = function (v) { return L + (W - L - R) * (v - minV) / (1 - minV); };
    var yh = (H - T - B) / rows;
    var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', height: '100%', preserveAspectRatio: 'xMidYMid meet', role: 'img' }, host);
    svgEl('title', {}, svg).textContent = 'Silhouette of each customer, by segment';
    niceTicks(minV, 1, 6).forEach(function (t) {
      svgEl('line', { x1: x(t), x2: x(t), y1: T, y2: H - B, stroke: '#eef1f5' }, svg);
      svgText(svg, x(t), H - B + 14, t.toFixed(1), { 'text-anchor': 'middle' });
    });
    svgEl('line', { x1: x(0), x2: x(0), y1: T, y2: H - B, stroke: '#9aa5b1' }, svg);
    var r = gap;
    segs.forEach(function (s, si) {
      var v = sp.values[si] || [];
      var g = svgEl('g', { 'class': 'silhouette-segment' }, svg);
      svgEl('title', {}, g).textContent = s.name + ': ' + count(v.length) + ' customers plotted';
      v.forEach(function (val, i) {
        svgEl('rect', { 'class': 'bar', x: Math.min(x(0), x(val)), y: T + (r + i) * yh, width: Math.max(0.3, Math.abs(x(val) - x(0))),
          height: Math.max(yh, 0.5), fill: s.color }, g);
      });
      svgText(svg, L - 6, T + (r + v.length / 2) * yh + 4, String(s.id), { 'text-anchor': 'end' });
      r += v.length + gap;
    });
    svgEl('line', { 'class': 'mean', x1: x(sp.mean), x2: x(sp.mean), y1: T, y2: H - B, stroke: '#e15759', 'stroke-width': 2, 'stroke-dasharray': '6 4' }, svg);
    svgText(svg, x(sp.mean) + 4, T - 2, 'mean ' + sp.mean.toFixed(3), { fill: '#e15759' });
    svgText(svg, L + (W - L - R) / 2, H - 4, 'silhouette coefficient (segments by id, top to bottom)', { 'text-anchor': 'middle' });
    $('silplot-title').textContent = 'Silhouette of each customer (k = ' + D.k + ')';
    $('silplot-note').textContent = sp.sampled ?
      'A stratified sample of ' + count(sp.shown) + ' of ' + count(sp.total) + ' customers; silhouettes computed within the sample.' :
      'All ' + count(sp.shown) + ' customers.';
  })();

  // ---- principal components (more than three features) -------------------------------
  var pcaKind = null;
  (function principal() {
    var P = D.pca;
    if (!P) { $('pca-card').hidden = true; return; }
    function draw(three) {
      pcaKind = three && P.explained.length >= 3 ? '3d' : '2d';
      var traces = segs.map(function (s, si) {
        var v = P.values[si];
        var t = { name: esc(s.name), mode: 'markers', hoverinfo: 'name', marker: { color: s.color, size: pcaKind === '3d' ? markerSize : markerSize + 1, opacity: 0.8 } };
        if (pcaKind === '3d') { t.type = 'scatter3d'; t.x = v[0]; t.y = v[1]; t.z = v[2]; }
        else { t.type = 'scatter'; t.x = v[0]; t.y = v[1]; }
        return t;
      });
      function title(c) { return 'PC' + (c + 1) + ' (' + pct(P.explained[c]) + ')'; }
      var layout = { font: { family: FONT, size: 12, color: '#1f2933' }, paper_bgcolor: '#fff', plot_bgcolor: '#fff',
        margin: { l: 10, r: 10, t: 10, b: 10 }, legend: { orientation: 'h' } };
      if (pcaKind === '3d') layout.scene = { xaxis: { title: { text: title(0) } }, yaxis: { title: { text: title(1) } }, zaxis: { title: { text: title(2) } } };
      else { layout.xaxis = { title: { text: title(0) }, automargin: true }; layout.yaxis = { title: { text: title(1) }, automargin: true }; }
      var top = P.loadings.map(function (l, c) {
        var order = l.map(function (w, f) { return [Math.abs(w), f, w]; }).sort(function (a, b) { return b[0] - a[0]; }).slice(0, 3);
        return 'PC' + (c + 1) + ' ≈ ' + order.map(function (o) { return (o[2] < 0 ? '−' : '+') + o[2].toFixed(2).replace('-', '') + ' ' + D.features[o[1]]; }).join(' ');
      });
      $('pca-note').textContent = 'Principal components of the scaled clustering features (' + D.features.length + '), fitted on the plotted customers. ' + top.join('; ') + '.';
      return Plotly.react('pca', traces, layout, CONFIG);
    }
    plots.push(draw(false));
    $('pca-3d').addEventListener('change', function (e) { draw(e.target.checked); });
  })();

  // ---- category mix ------------------------------------------------------------------
  (function categories() {
    if (!D.categories.length) { $('cat-card').hidden = true; return; }
    var table = $('categories');
    var thead = el('thead');
    var hr = el('tr');
    hr.appendChild(el('th', null, 'Column = value'));
    hr.appendChild(el('th', null, 'Portfolio'));
    segs.forEach(function (s) {
      var th = el('th');
      th.appendChild(swatch(s.color));
      th.appendChild(document.createTextNode(' ' + s.name));
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var body = el('tbody');
    D.categories.forEach(function (c) {
      c.values.forEach(function (v, vi) {
        var tr = el('tr');
        tr.appendChild(el('th', 'rowhead', c.column + ' = ' + v));
        tr.appendChild(el('td', null, pct(c.portfolio[vi])));
        c.segments.forEach(function (sh, si) {
          var few = c.few[si] && c.few[si][vi];
          var td = el('td', null, pct(sh[vi]) + (few ? ' (few)' : ''));
          var idx = !few && c.portfolio[vi] > 0 ? sh[vi] / c.portfolio[vi] * 100 : null;
          var bg = shade(idx);
          if (bg) td.style.background = bg;
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
    });
    table.appendChild(body);
  })();

  // ---- outcomes ------------------------------------------------------------------------
  (function outcomes() {
    if (!D.outcomes.length) return;
    $('outcome-card').hidden = false;
    D.outcomes.forEach(function (o, oi) {
      var rate = o.kind === 'rate';
      var div = el('div', 'chart');
      div.id = 'outcome-' + oi;
      $('outcomes').appendChild(div);
      var val = function (x) { return x.value === null ? NaN : (rate ? x.value * 100 : x.value); };
      var lo = function (x) { return x.ci_low === null ? 0 : val(x) - (rate ? x.ci_low * 100 : x.ci_low); };
      var hi = function (x) { return x.ci_high === null ? 0 : (rate ? x.ci_high * 100 : x.ci_high) - val(x); };
      var rows = o.segments;
      var colors = rows.map(function (r) {
        var s = segs.filter(function (g) { return g.id === r[0]; })[0];
        return s ? s.color : '#7b8794';
      });
      var trace = { type: 'bar', x: rows.map(function (r) { return r[0] + '. ' + esc(r[1]); }),
        y: rows.map(function (r) { return val(r[2]); }), marker: { color: colors },
        error_y: { type: 'data', symmetric: false, array: rows.map(function (r) { return hi(r[2]); }),
          arrayminus: rows.map(function (r) { return lo(r[2]); }), color: '#333' },
        hovertemplate: '%{x}<br>%{y:.3g}' + (rate ? '%' : '') + '<extra></extra>' };
      var pv = val(o.portfolio);
      var layout = { title: { text: esc(o.column) + (rate ? ' rate (%)' : ' (mean)'), font: { size: 14 } },
        margin: { l: 50, r: 20, t: 40, b: 80 }, height: 320, showlegend: false,
        shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: pv, y1: pv, line: { dash: 'dash', color: '#555' } }] };
      plots.push(Plotly.react(div.id, [trace], layout, CONFIG));
    });
  })();

  // ---- executive summary -------------------------------------------------------------
  $('structure').textContent = D.structure.sentence;
  if (D.structure.weak) $('structure').className = 'warn';
  if (D.caution) { $('caution').textContent = D.caution; $('caution').hidden = false; }
  D.findings.forEach(function (f) { $('findings').appendChild(el('li', null, f)); });
  $('k-reason').textContent = D.k_selection.reason;
  segs.forEach(function (s) {
    var card = el('div', 'seg');
    card.style.borderLeftColor = s.color;
    var h = el('h3');
    h.appendChild(swatch(s.color));
    h.appendChild(document.createTextNode(' ' + s.id + '. ' + s.name));
    card.appendChild(h);
    card.appendChild(el('p', 'plain', s.plain));
    card.appendChild(el('p', 'k', count(s.customers) + ' customers · ' + pct(s.share) + ' of the portfolio' +
      (s.stability ? ' · stability ' + s.stability.jaccard.toFixed(2) + ' (' + s.stability.verdict + ')' : '')));
    card.appendChild(el('p', null, 'Centre: ' + D.features.map(function (f, j) { return f + ' ' + human(s.centroid[j]); }).join(' · ')));
    var why = el('details', 'why');
    why.appendChild(el('summary', 'k', 'Why this name'));
    why.appendChild(el('p', null, s.rationale));
    card.appendChild(why);
    var act = el('p');
    act.appendChild(el('span', 'k', 'Suggested action: '));
    act.appendChild(document.createTextNode(s.action));
    card.appendChild(act);
    var typ = el('p', 'typical');
    typ.appendChild(el('span', 'k', 'Typical customers (' + D.id_label + ', nearest the centre): '));
    typ.appendChild(document.createTextNode(s.typical.join(', ')));
    card.appendChild(typ);
    $('segment-cards').appendChild(card);
  });

  // ---- profile table -----------------------------------------------------------------
  function shade(index) {
    if (!finite(index) || index <= 0) return '';
    var t = Math.max(-1, Math.min(1, Math.log(index / 100) / Math.log(4)));
    if (Math.abs(t) < 0.05) return '';
    return t > 0 ? 'rgba(78,121,167,' + (t * 0.5).toFixed(3) + ')' : 'rgba(225,87,89,' + (-t * 0.45).toFixed(3) + ')';
  }
  function renderProfile(stat) {
    var table = $('profile');
    while (table.firstChild) table.removeChild(table.firstChild);
    var thead = el('thead');
    var hr = el('tr');
    hr.appendChild(el('th', 'rowhead', stat === 'index' ? 'Index (100 = portfolio)' : stat === 'median' ? 'Median' : 'Mean'));
    hr.appendChild(el('th', null, 'Portfolio'));
    segs.forEach(function (s) {
      var th = el('th');
      th.appendChild(swatch(s.color));
      th.appendChild(document.createTextNode(' ' + s.name));
      hr.appendChild(th);
    });
    thead.appendChild(hr);
    table.appendChild(thead);
    var body = el('tbody');
    function section(title) {
      var tr = el('tr', 'section');
      var th = el('th', null, title);
      th.colSpan = segs.length + 2;
      tr.appendChild(th);
      body.appendChild(tr);
    }
    function value(cell, isPortfolio) {
      if (stat === 'index') return isPortfolio ? '100' : finite(cell.index) ? cell.index.toFixed(0) : '—';
      var v = stat === 'median' ? cell.median : cell.mean;
      return v === null || v === undefined ? '—' : human(v);
    }
    function row(label, sub, r) {
      var tr = el('tr');
      var th = el('th', 'rowhead', label);
      if (sub) th.appendChild(el('span', 'sub', sub));
      tr.appendChild(th);
      tr.appendChild(el('td', null, value(r.portfolio, true)));
      r.segments.forEach(function (c) {
        var td = el('td', null, value(c, false));
        var bg = shade(c.index);
        if (bg) td.style.background = bg;
        if (finite(c.index)) td.title = 'index ' + c.index.toFixed(0);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    section('Columns');
    D.profile.columns.forEach(function (c) { row(c.name, null, c); });
    if (D.profile.indicators.length) {
      section('Indicators' + (stat === 'median' ? ' (ratios of sums: no median)' : ''));
      D.profile.indicators.forEach(function (c) { row(c.name, c.label, c); });
    }
    table.appendChild(body);
  }
  renderProfile('mean');
  $('profile-stat').addEventListener('change', function (e) { renderProfile(e.target.value); });

  // ---- data quality and footer -------------------------------------------------------
  (function quality() {
    var q = D.quality;
    var items = ['Customers read: ' + count(q.customers_read) + '; segmented: ' + count(q.customers_segmented) + '.'];
    if (q.dropped > 0) items.push(count(q.dropped) + ' customers are not segmented (missing values under the drop policy, or no label).');
    if (q.missing.length === 0) items.push('No missing values in the columns used.');
    q.missing.forEach(function (m) {
      items.push(m.column + ': ' + count(m.missing) + ' missing value' + (m.missing === 1 ? '' : 's') + ', ' + m.handled + '.');
    });
    items.push('Missing-value policy: ' + q.missing_policy + '.');
    if (q.id_column === null) items.push('No id column: customers are numbered by row.');
    else if (q.duplicate_ids > 0) items.push('Duplicate customer ids: ' + count(q.duplicate_ids) + ' (each row was segmented on its own; check the extract).');
    else items.push('No duplicate customer ids (' + q.id_column + ').');
    items.forEach(function (t) { $('quality').appendChild(el('li', null, t)); });
    $('footer').textContent = 'cardseg ' + D.version + ' · model ' + D.model_checksum + ' · charts by plotly.js ' +
      D.plotly_version + ' (MIT licence), embedded: this page makes no network requests.';
  })();

  // ---- customer flows since the previous run (Sankey, plain SVG) ------------------------
  (function sankey() {
    var F = D.flows;
    if (!F) return;
    var NS = 'http://www.w3.org/2000/svg';
    function svgEl(tag, attrs) {
      var e = document.createElementNS(NS, tag);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      return e;
    }
    var section = el('section', 'card');
    section.id = 'flows';
    section.appendChild(el('h2', null, 'Customer flows since the previous run'));
    var moved = F.links.reduce(function (n, l) { return n + (l[0] !== l[1] ? l[2] : 0); }, 0);
    var total = F.links.reduce(function (n, l) { return n + l[2]; }, 0);
    section.appendChild(el('p', 'note', count(total) + ' customers in both runs, ' + count(moved) + ' moved to another segment; ' +
      count(F.new_customers) + ' new, ' + count(F.gone_customers) + ' gone. Left: previous segments; right: this run.'));
    var W = 900, H = 420, NW = 16, GAP = 12, LX = 220, RX = W - 220 - NW;
    var svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img', 'aria-label': 'Customer flows between segments' });
    function layout(nodes) {
      var avail = H - GAP * (nodes.length - 1), y = 0, pos = {};
      nodes.forEach(function (n) {
        var h = Math.max(2, avail * n[2] / Math.max(total, 1));
        pos[n[0]] = { y: y, h: h, used: 0 };
        y += h + GAP;
      });
      return pos;
    }
    var L = layout(F.before), R = layout(F.after);
    var colorOf = {};
    F.after.forEach(function (n) { colorOf[n[0]] = n[3]; });
    F.links.forEach(function (l) {
      var a = L[l[0]], b = R[l[1]];
      var h = Math.max(1, (H - GAP * (F.before.length - 1)) * l[2] / Math.max(total, 1));
      var y0 = a.y + a.used + h / 2, y1 = b.y + b.used + h / 2;
      a.used += h; b.used += h;
      var x0 = LX + NW, x1 = RX, mx = (x0 + x1) / 2;
      var path = svgEl('path', { d: 'M' + x0 + ',' + y0 + ' C' + mx + ',' + y0 + ' ' + mx + ',' + y1 + ' ' + x1 + ',' + y1,
        fill: 'none', stroke: colorOf[l[1]] || '#999999', 'stroke-opacity': '0.45', 'stroke-width': String(h) });
      var t = svgEl('title', {});
      t.textContent = count(l[2]) + ' customers: segment ' + l[0] + ' → ' + l[1];
      path.appendChild(t);
      svg.appendChild(path);
    });
    function nodes(list, pos, x, anchor, tx) {
      list.forEach(function (n) {
        var p = pos[n[0]];
        svg.appendChild(svgEl('rect', { x: x, y: p.y, width: NW, height: p.h, fill: colorOf[n[0]] || '#7b8794' }));
        var label = svgEl('text', { x: tx, y: p.y + p.h / 2, 'text-anchor': anchor, 'dominant-baseline': 'middle', 'font-size': '12' });
        label.textContent = n[0] + ' ' + n[1] + ' (' + count(n[2]) + ')';
        svg.appendChild(label);
      });
    }
    nodes(F.before, L, LX, 'end', LX - 6);
    nodes(F.after, R, RX, 'start', RX + NW + 6);
    section.appendChild(svg);
    var main = document.querySelector('main');
    main.insertBefore(section, $('footer'));
  })();

  // ---- self-check ----------------------------------------------------------------------
  function writeCheck(extra) {
    var out = {
      errors: rec.errors, alerts: rec.alerts, violations: rec.violations,
      scripts: document.scripts.length, images: document.images.length,
      iframes: document.getElementsByTagName('iframe').length,
      resources: (performance.getEntriesByType ? performance.getEntriesByType('resource') : []).map(function (r) { return r.name; }),
      external_urls: []
    };
    var attrs = ['src', 'href', 'xlink:href', 'action', 'formaction', 'poster', 'data', 'srcset', 'background'];
    var all = document.getElementsByTagName('*');
    for (var i = 0; i < all.length; i++) {
      for (var a = 0; a < attrs.length; a++) {
        var v = all[i].getAttribute(attrs[a]);
        if (v && /^\s*([a-z][a-z0-9+.-]*:)?\/\//i.test(v)) out.external_urls.push(all[i].tagName + ' ' + attrs[a] + '=' + v);
      }
    }
    for (var key in extra) out[key] = extra[key];
    out.ok = extra.ok !== false && out.errors.length === 0 && out.alerts.length === 0 && out.violations.length === 0 &&
      out.external_urls.length === 0 && out.resources.length === 0;
    var pre = document.getElementById('selfcheck');
    if (pre) pre.textContent = JSON.stringify(out);
  }

  // Counts the non-background pixels of the 3D scene as plotly renders it.
  function scenePixels(gd) {
    if (kind !== '3d') return Promise.resolve(null);
    return Plotly.toImage(gd, { format: 'png', width: 500, height: 400 }).then(function (url) {
      return new Promise(function (resolve) {
        var img = new Image();
        img.onload = function () {
          var c = document.createElement('canvas');
          c.width = img.width; c.height = img.height;
          var ctx = c.getContext('2d', { willReadFrequently: true });
          ctx.drawImage(img, 0, 0);
          var px = ctx.getImageData(0, 0, c.width, c.height).data;
          var nonWhite = 0, colours = {};
          for (var i = 0; i < px.length; i += 4) {
            if (px[i] < 245 || px[i + 1] < 245 || px[i + 2] < 245) nonWhite++;
            colours[(px[i] >> 4) + ',' + (px[i + 1] >> 4) + ',' + (px[i + 2] >> 4)] = 1;
          }
          resolve({ non_white: nonWhite, total: px.length / 4, colours: Object.keys(colours).length });
        };
        img.onerror = function () { resolve({ error: 'image did not load' }); };
        img.src = url;
      });
    });
  }

  // The 2D views hover in SVG, so the check can show a point's label as a person sees it.
  function hoverText(gd) {
    if (kind === '3d' || !segs.length || !segs[0].ids.length) return null;
    Plotly.Fx.hover(gd, [{ curveNumber: 0, pointNumber: 0 }]);
    var box = gd.querySelector('.hoverlayer .hovertext');
    var text = null;
    if (box) {
      var lines = box.querySelectorAll('tspan.line');
      text = lines.length ? Array.prototype.map.call(lines, function (t) { return t.textContent; }) : [box.textContent];
    }
    Plotly.Fx.unhover(gd);
    return text;
  }
  function rectOf(node) {
    if (!node) return null;
    var r = node.getBoundingClientRect();
    return { x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
  }

  // Switches the scatter to log axes and back, reporting the axis types plotly applied.
  function logRoundTrip(gd) {
    var names = kind === '3d' ? ['xaxis', 'yaxis', 'zaxis'] : kind === '2d' ? ['xaxis', 'yaxis'] : ['xaxis'];
    function types() {
      var l = kind === '3d' ? gd._fullLayout.scene : gd._fullLayout;
      return names.map(function (n) { return l[n].type; });
    }
    return applyLog(true).then(function () {
      var onLog = types();
      return applyLog(false).then(function () { return { log: onLog, linear: types() }; });
    });
  }

  var done = false;
  Promise.all(plots).then(function () {
    var gd = $('scatter');
    var pixels;
    return scenePixels(gd).then(function (p) {
      pixels = p;
      return logRoundTrip(gd);
    }).then(function (axisTypes) {
      var pointTraces = gd.data.slice(0, segs.length);
      var scene = gd._fullLayout && gd._fullLayout.scene && gd._fullLayout.scene._scene;
      done = true;
      writeCheck({
        kind: kind,
        legend: Array.prototype.map.call(gd.querySelectorAll('.legendtext'), function (e) { return e.textContent; }),
        segment_names: segs.map(function (s) { return s.name; }),
        segment_colors: segs.map(function (s) { return s.color; }),
        traces: gd.data.length,
        points: pointTraces.reduce(function (n, t) { return n + t.x.length; }, 0),
        shown: D.sample.shown, sampled: D.sample.sampled, total: D.sample.total,
        gl_canvases: gd.querySelectorAll('.gl-container canvas').length,
        webgl: !!(scene && scene.glplot),
        svg_points: gd.querySelectorAll('.scatterlayer .point').length,
        plot_rect: rectOf(gd),
        legend_rect: rectOf(gd.querySelector('.legend')),
        hover: hoverText(gd),
        axis_types: axisTypes,
        scene_pixels: pixels,
        typical: Array.prototype.map.call(document.querySelectorAll('.seg .typical'), function (e) { return e.textContent; }),
        size_rows: document.querySelectorAll('#sizes .row').length,
        profile_rows: document.querySelectorAll('#profile tbody tr').length,
        box_traces: document.querySelectorAll('#boxes svg g.box').length,
        boxes_drawn: Array.prototype.filter.call(document.querySelectorAll('#boxes svg rect.box-body'), function (r) {
          return r.getBoundingClientRect().height > 0; }).length,
        silhouette_bars: document.querySelectorAll('#silplot svg rect.bar').length,
        silhouette_mean_line: document.querySelectorAll('#silplot svg line.mean').length,
        silhouette_shown: D.silhouettes.shown,
        pca_kind: pcaKind,
        pca_points: $('pca').data ? $('pca').data.reduce(function (n, t) { return n + t.x.length; }, 0) : 0,
        pca_svg_points: document.querySelectorAll('#pca .scatterlayer .point').length,
        axis_selects: document.querySelectorAll('#axis-pick select').length,
        category_rows: document.querySelectorAll('#categories tbody tr').length,
        ms: Math.round(performance.now())
      });
    });
  }).catch(function (e) {
    done = true;
    rec.errors.push('plotting failed: ' + (e && e.message ? e.message : e));
    writeCheck({ ok: false });
  });
  setTimeout(function () {
    if (!done) {
      rec.errors.push('charts did not finish drawing within 60 s');
      writeCheck({ ok: false });
    }
  }, 60000);
})();
