/* Brussels twin: 3D viewer page.
 *
 * A small WebGL 1 renderer written for this project (no external library):
 * it reads the glTF binary written by viewer/gltf.py (one node per building,
 * attributes in node extras, colour scales in scene extras), draws the
 * buildings with the same fixed white lighting as the PyVista images
 * (ambient 0.4, a light from above 0.4, one from the south-west 0.35),
 * recolours them by any column with the scales computed in Python, and
 * picks a building under the mouse with an off-screen id buffer.
 *
 * Configuration: window.TWIN_VIEWER_CONFIG = {mode: "service", api: "/viewer/api"}
 * (the scene and building details come from the service; API key, model
 * and run from the URL fragment #key=...&model=...&run=...&color_by=...)
 * or {mode: "standalone"} (the scene is embedded in the page, base64, in
 * <script id="twin-scene">).
 *
 * window.twinViewer exposes the viewer for scripts and tests:
 * viewProjection() (column-major 4x4), canvasSize(), anchor(id) (roof point,
 * glTF coordinates), pickAt(x, y) and colorBy(column).
 */
(function () {
  "use strict";

  var cfg = window.TWIN_VIEWER_CONFIG || { mode: "standalone" };
  var BACKGROUND = [247 / 255, 247 / 255, 244 / 255];
  var AMBIENT = 0.4, TOP = 0.4, SIDE = 0.35;
  var FOV_DEG = 30;

  // ------------------------------------------------------------------ 4x4 matrices (column-major)
  function perspective(fovyRad, aspect, near, far) {
    var f = 1 / Math.tan(fovyRad / 2), nf = 1 / (near - far);
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0];
  }
  function sub(a, b) { return [a[0] - b[0], a[1] - b[1], a[2] - b[2]]; }
  function cross(a, b) { return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]; }
  function dot(a, b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
  function normalize(a) { var n = Math.sqrt(dot(a, a)) || 1; return [a[0] / n, a[1] / n, a[2] / n]; }
  function lookAt(eye, target, up) {
    var z = normalize(sub(eye, target)), x = normalize(cross(up, z)), y = cross(z, x);
    return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0,
      -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
  }
  function mul(a, b) {
    var o = new Array(16);
    for (var c = 0; c < 4; c++) {
      for (var r = 0; r < 4; r++) {
        var s = 0;
        for (var k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
        o[c * 4 + r] = s;
      }
    }
    return o;
  }
  function apply(m, p) {
    var x = p[0], y = p[1], z = p[2];
    return [m[0] * x + m[4] * y + m[8] * z + m[12], m[1] * x + m[5] * y + m[9] * z + m[13],
      m[2] * x + m[6] * y + m[10] * z + m[14], m[3] * x + m[7] * y + m[11] * z + m[15]];
  }

  // ------------------------------------------------------------------ colours (same rules as viewer/colors.py)
  function hexToRgb(h) {
    h = h.replace("#", "");
    return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
  }
  function colourOf(scale, v) {
    if (scale.kind === "categorical") {
      var i = v === null || v === undefined ? -1 : scale.categories.indexOf(String(v));
      return hexToRgb(i < 0 ? scale.nan_color : scale.category_colors[i]);
    }
    if (v === null || v === undefined || v === "" || !isFinite(Number(v))) return hexToRgb(scale.nan_color);
    var t = (Number(v) - scale.vmin) / (scale.vmax - scale.vmin);
    t = Math.min(1, Math.max(0, t));
    var n = scale.stops.length - 1, pos = t * n, k = Math.min(Math.floor(pos), n - 1), f = pos - k;
    var a = hexToRgb(scale.stops[k]), b = hexToRgb(scale.stops[k + 1]);
    return [0, 1, 2].map(function (c) { return Math.round(a[c] + (b[c] - a[c]) * f); });
  }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") {
      if (Math.abs(v) >= 1000) return v.toLocaleString("en", { maximumFractionDigits: 0 });
      if (Number.isInteger(v)) return String(v);
      return String(Number(v.toPrecision(4)));
    }
    return String(v);
  }

  // ------------------------------------------------------------------ glTF binary
  function parseGlb(buffer) {
    var dv = new DataView(buffer);
    if (buffer.byteLength < 20 || dv.getUint32(0, true) !== 0x46546c67) throw new Error("the scene is not a glTF binary");
    var off = 12, json = null, bin = new Uint8Array(0);
    while (off + 8 <= buffer.byteLength) {
      var len = dv.getUint32(off, true), type = dv.getUint32(off + 4, true), start = off + 8;
      if (type === 0x4e4f534a) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, start, len)));
      else if (type === 0x004e4942) bin = new Uint8Array(buffer, start, len);
      off = start + len;
    }
    if (!json) throw new Error("the glTF binary has no JSON chunk");
    return { json: json, bin: bin };
  }
  var TYPES = { 5126: Float32Array, 5121: Uint8Array, 5123: Uint16Array, 5125: Uint32Array };
  var SIZES = { SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4 };
  function readAccessor(glb, index) {
    var a = glb.json.accessors[index], v = glb.json.bufferViews[a.bufferView];
    var T = TYPES[a.componentType], n = SIZES[a.type];
    var start = (v.byteOffset || 0) + (a.byteOffset || 0);
    var copy = glb.bin.slice(start, start + a.count * n * T.BYTES_PER_ELEMENT);  // aligned copy
    return { data: new T(copy.buffer), n: n, count: a.count };
  }
  function expand(acc, indices) {
    if (!indices) return acc.data;
    var out = new acc.data.constructor(indices.data.length * acc.n);
    for (var i = 0; i < indices.data.length; i++)
      for (var c = 0; c < acc.n; c++) out[i * acc.n + c] = acc.data[indices.data[i] * acc.n + c];
    return out;
  }

  // ------------------------------------------------------------------ WebGL
  var VS = [
    "attribute vec3 aPos; attribute vec3 aNrm; attribute vec3 aCol;",
    "uniform mat4 uMvp; uniform vec3 uTop; uniform vec3 uSide; uniform vec3 uLight; uniform float uPick;",
    "varying vec3 vCol;",
    "void main() {",
    "  gl_Position = uMvp * vec4(aPos, 1.0);",
    "  float s = uLight.x + uLight.y * max(dot(aNrm, uTop), 0.0) + uLight.z * max(dot(aNrm, uSide), 0.0);",
    "  if (dot(aNrm, aNrm) < 0.5) s = 1.0;",
    "  vCol = uPick > 0.5 ? aCol : min(aCol * s, vec3(1.0));",
    "}"].join("\n");
  var FS = "precision mediump float; varying vec3 vCol; void main() { gl_FragColor = vec4(vCol, 1.0); }";

  function compile(gl, type, src) {
    var s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    return s;
  }

  function Viewer(canvas) {
    this.canvas = canvas;
    var gl = canvas.getContext("webgl", { antialias: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error("WebGL is not available in this browser");
    this.gl = gl;
    var p = gl.createProgram();
    gl.attachShader(p, compile(gl, gl.VERTEX_SHADER, VS));
    gl.attachShader(p, compile(gl, gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    this.prog = p;
    this.loc = {
      aPos: gl.getAttribLocation(p, "aPos"), aNrm: gl.getAttribLocation(p, "aNrm"), aCol: gl.getAttribLocation(p, "aCol"),
      uMvp: gl.getUniformLocation(p, "uMvp"), uTop: gl.getUniformLocation(p, "uTop"),
      uSide: gl.getUniformLocation(p, "uSide"), uLight: gl.getUniformLocation(p, "uLight"),
      uPick: gl.getUniformLocation(p, "uPick")
    };
    var el = 35 * Math.PI / 180, az = 225 * Math.PI / 180;
    // light directions in glTF axes (x east, y up, z south)
    this.side = [Math.sin(az) * Math.cos(el), Math.sin(el), -Math.cos(az) * Math.cos(el)];
    this.buildings = [];
    this.byId = {};
    this.cam = { target: [0, 0, 0], dist: 100, az: 210, el: 45 };
    this.dirty = true;
    this.listeners = [];
  }

  Viewer.prototype.load = function (buffer) {
    var glb = parseGlb(buffer), json = glb.json, gl = this.gl;
    this.scene = (json.scenes && json.scenes[json.scene || 0]) || {};
    this.extras = this.scene.extras || {};
    var pos = [], nrm = [], count = 0, lines = null, lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    var self = this;
    (json.nodes || []).forEach(function (node) {
      var ex = node.extras || {};
      if (ex.layer === "building") {
        var b = { id: ex.building_id, attributes: ex.attributes || {}, anchor: ex.anchor || null, start: count, count: 0 };
        if (node.mesh !== undefined) {
          json.meshes[node.mesh].primitives.forEach(function (prim) {
            var idx = prim.indices !== undefined ? readAccessor(glb, prim.indices) : null;
            var P = expand(readAccessor(glb, prim.attributes.POSITION), idx);
            var N = prim.attributes.NORMAL !== undefined ? expand(readAccessor(glb, prim.attributes.NORMAL), idx) : new Float32Array(P.length);
            pos.push(P); nrm.push(N);
            b.count += P.length / 3;
            for (var i = 0; i < P.length; i += 3) {
              for (var c = 0; c < 3; c++) { lo[c] = Math.min(lo[c], P[i + c]); hi[c] = Math.max(hi[c], P[i + c]); }
            }
          });
        }
        count += b.count;
        self.byId[b.id] = self.buildings.length;
        self.buildings.push(b);
      } else if (ex.layer === "links" && node.mesh !== undefined) {
        var prim = json.meshes[node.mesh].primitives[0];
        var LP = readAccessor(glb, prim.attributes.POSITION).data;
        var LC = prim.attributes.COLOR_0 !== undefined ? readAccessor(glb, prim.attributes.COLOR_0) : null;
        var cols = new Uint8Array(LP.length);
        for (var i = 0; i < LP.length / 3; i++) for (var c = 0; c < 3; c++) cols[i * 3 + c] = LC ? LC.data[i * LC.n + c] : 90;
        lines = { pos: LP, col: cols };
      }
    });
    function concat(list, n) {
      var out = new Float32Array(n * 3), o = 0;
      list.forEach(function (a) { out.set(a, o); o += a.length; });
      return out;
    }
    this.count = count;
    this.buf = {
      pos: this.upload(concat(pos, count)), nrm: this.upload(concat(nrm, count)),
      col: this.upload(new Uint8Array(count * 3), true), pick: null
    };
    var pick = new Uint8Array(count * 3);
    this.buildings.forEach(function (b, k) {
      var id = k + 1;
      for (var v = b.start; v < b.start + b.count; v++) {
        pick[v * 3] = id & 255; pick[v * 3 + 1] = (id >> 8) & 255; pick[v * 3 + 2] = (id >> 16) & 255;
      }
    });
    this.buf.pick = this.upload(pick);
    if (lines) {
      this.lines = { n: lines.pos.length / 3, pos: this.upload(lines.pos), col: this.upload(lines.col),
        nrm: this.upload(new Float32Array(lines.pos.length)) };
    }
    if (!isFinite(lo[0])) { lo = [-50, 0, -50]; hi = [50, 10, 50]; }
    this.bounds = [lo, hi];
    this.fit();
  };

  Viewer.prototype.upload = function (array, dynamic) {
    var gl = this.gl, b = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, b);
    gl.bufferData(gl.ARRAY_BUFFER, array, dynamic ? gl.DYNAMIC_DRAW : gl.STATIC_DRAW);
    return b;
  };

  Viewer.prototype.fit = function () {
    var lo = this.bounds[0], hi = this.bounds[1];
    this.cam.target = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
    var r = 0.5 * Math.sqrt(dot(sub(hi, lo), sub(hi, lo))) || 10;
    var half = FOV_DEG / 2 * Math.PI / 180, aspect = this.canvas.clientWidth / Math.max(1, this.canvas.clientHeight);
    var halfFit = Math.min(half, Math.atan(Math.tan(half) * aspect));
    this.cam.dist = r / Math.sin(halfFit) * 1.02;
    this.radius = r;
    this.dirty = true;
  };

  Viewer.prototype.colorBy = function (column) {
    var scales = this.extras.columns || {}, scale = scales[column];
    if (!scale) throw new Error("unknown column " + column);
    this.column = column;
    this.scaleNow = scale;
    var col = new Uint8Array(this.count * 3);
    this.buildings.forEach(function (b) {
      var rgb = colourOf(scale, b.attributes[column]);
      for (var v = b.start; v < b.start + b.count; v++) { col[v * 3] = rgb[0]; col[v * 3 + 1] = rgb[1]; col[v * 3 + 2] = rgb[2]; }
    });
    var gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf.col);
    gl.bufferSubData(gl.ARRAY_BUFFER, 0, col);
    this.dirty = true;
    this.listeners.forEach(function (f) { f(scale); });
  };

  Viewer.prototype.eye = function () {
    var c = this.cam, az = c.az * Math.PI / 180, el = c.el * Math.PI / 180;
    // direction towards the camera: east = sin(az), north = cos(az) -> glTF z = -north
    var d = [Math.sin(az) * Math.cos(el), Math.sin(el), -Math.cos(az) * Math.cos(el)];
    return [c.target[0] + c.dist * d[0], c.target[1] + c.dist * d[1], c.target[2] + c.dist * d[2]];
  };

  Viewer.prototype.viewProjection = function () {
    var w = this.canvas.width, h = this.canvas.height, r = this.radius || 100;
    var near = Math.max(0.1, this.cam.dist - 2 * r), far = this.cam.dist + 4 * r;
    near = Math.max(near, far / 5000);
    return mul(perspective(FOV_DEG * Math.PI / 180, w / Math.max(1, h), near, far), lookAt(this.eye(), this.cam.target, [0, 1, 0]));
  };

  Viewer.prototype.canvasSize = function () { return [this.canvas.clientWidth, this.canvas.clientHeight]; };

  Viewer.prototype.anchor = function (id) {
    var k = this.byId[id];
    return k === undefined ? null : this.buildings[k].anchor;
  };

  Viewer.prototype.resize = function () {
    var dpr = window.devicePixelRatio || 1, c = this.canvas;
    var w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; this.dirty = true; }
  };

  Viewer.prototype.drawWith = function (pick) {
    var gl = this.gl, L = this.loc;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    if (pick) gl.clearColor(0, 0, 0, 1); else gl.clearColor(BACKGROUND[0], BACKGROUND[1], BACKGROUND[2], 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    gl.useProgram(this.prog);
    gl.uniformMatrix4fv(L.uMvp, false, new Float32Array(this.viewProjection()));
    gl.uniform3fv(L.uTop, [0, 1, 0]);
    gl.uniform3fv(L.uSide, this.side);
    gl.uniform3fv(L.uLight, [AMBIENT, TOP, SIDE]);
    gl.uniform1f(L.uPick, pick ? 1 : 0);
    function bind(buffer, loc, n, type, norm) {
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(loc);
      gl.vertexAttribPointer(loc, n, type, norm, 0, 0);
    }
    if (this.count) {
      bind(this.buf.pos, L.aPos, 3, gl.FLOAT, false);
      bind(this.buf.nrm, L.aNrm, 3, gl.FLOAT, false);
      bind(pick ? this.buf.pick : this.buf.col, L.aCol, 3, gl.UNSIGNED_BYTE, true);
      gl.drawArrays(gl.TRIANGLES, 0, this.count);
    }
    if (this.lines && !pick) {
      bind(this.lines.pos, L.aPos, 3, gl.FLOAT, false);
      bind(this.lines.nrm, L.aNrm, 3, gl.FLOAT, false);
      bind(this.lines.col, L.aCol, 3, gl.UNSIGNED_BYTE, true);
      gl.drawArrays(gl.LINES, 0, this.lines.n);
    }
  };

  Viewer.prototype.draw = function () {
    this.resize();
    this.drawWith(false);
    this.dirty = false;
  };

  Viewer.prototype.pickAt = function (x, y) {
    // x, y: CSS pixels relative to the canvas; returns a building id or null
    var gl = this.gl, w = this.canvas.width, h = this.canvas.height, dpr = w / Math.max(1, this.canvas.clientWidth);
    if (!this.fbo || this.fboW !== w || this.fboH !== h) {
      this.fbo = gl.createFramebuffer();
      var tex = gl.createTexture();
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, null);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      var depth = gl.createRenderbuffer();
      gl.bindRenderbuffer(gl.RENDERBUFFER, depth);
      gl.renderbufferStorage(gl.RENDERBUFFER, gl.DEPTH_COMPONENT16, w, h);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
      gl.framebufferRenderbuffer(gl.FRAMEBUFFER, gl.DEPTH_ATTACHMENT, gl.RENDERBUFFER, depth);
      this.fboW = w; this.fboH = h;
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.fbo);
    gl.disable(gl.BLEND);
    this.drawWith(true);
    var px = new Uint8Array(4);
    gl.readPixels(Math.floor(x * dpr), Math.floor(h - 1 - y * dpr), 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    var id = px[0] + (px[1] << 8) + (px[2] << 16);
    this.dirty = true;
    return id > 0 && id <= this.buildings.length ? this.buildings[id - 1].id : null;
  };

  Viewer.prototype.loop = function () {
    var self = this;
    function frame() {
      if (self.dirty) self.draw();
      window.requestAnimationFrame(frame);
    }
    frame();
  };

  Viewer.prototype.controls = function (onPick) {
    var c = this.canvas, self = this, drag = null;
    c.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    c.addEventListener("mousedown", function (e) {
      drag = { x: e.clientX, y: e.clientY, x0: e.clientX, y0: e.clientY, pan: e.button === 2 || e.shiftKey };
    });
    window.addEventListener("mousemove", function (e) {
      if (!drag) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      drag.x = e.clientX; drag.y = e.clientY;
      if (drag.pan) {
        var eye = self.eye(), fwd = normalize(sub(self.cam.target, eye)), side = normalize(cross(fwd, [0, 1, 0]));
        var up = cross(side, fwd), k = self.cam.dist * 0.0015;
        for (var i = 0; i < 3; i++) self.cam.target[i] += (-dx * side[i] + dy * up[i]) * k;
      } else {
        self.cam.az = (self.cam.az + dx * 0.4) % 360;
        self.cam.el = Math.min(89.5, Math.max(2, self.cam.el + dy * 0.3));
      }
      self.dirty = true;
    });
    window.addEventListener("mouseup", function (e) {
      if (!drag) return;
      var moved = Math.abs(e.clientX - drag.x0) + Math.abs(e.clientY - drag.y0);
      drag = null;
      if (moved < 4 && e.target === c) {
        var r = c.getBoundingClientRect();
        onPick(self.pickAt(e.clientX - r.left, e.clientY - r.top));
      }
    });
    c.addEventListener("wheel", function (e) {
      e.preventDefault();
      self.cam.dist = Math.max(2, self.cam.dist * Math.exp(e.deltaY * 0.001));
      self.dirty = true;
    }, { passive: false });
    window.addEventListener("resize", function () { self.dirty = true; });
  };

  // ------------------------------------------------------------------ page
  function $(id) { return document.getElementById(id); }
  function status(text, error) {
    var s = $("status");
    s.textContent = text;
    s.className = error ? "error" : "";
  }
  function fragment() {
    var out = {};
    (window.location.hash || "").replace(/^#/, "").split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("=");
      out[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? "" : decodeURIComponent(kv.slice(i + 1));
    });
    return out;
  }
  function legend(scale) {
    var box = $("legend");
    box.textContent = "";
    var t = document.createElement("div");
    t.className = "title";
    t.textContent = scale.title;
    box.appendChild(t);
    if (scale.kind === "categorical") {
      scale.categories.forEach(function (c, i) {
        var row = document.createElement("div"), sw = document.createElement("span"), lab = document.createElement("span");
        row.className = "cls"; sw.className = "box";
        sw.style.background = scale.category_colors[i];
        lab.textContent = c;
        row.appendChild(sw); row.appendChild(lab); box.appendChild(row);
      });
      return;
    }
    var ramp = document.createElement("div"), bar = document.createElement("div"), ticks = document.createElement("div");
    ramp.className = "ramp"; bar.className = "bar"; ticks.className = "ticks";
    bar.style.background = "linear-gradient(to top, " + scale.stops.join(", ") + ")";
    for (var i = 4; i >= 0; i--) {
      var s = document.createElement("span");
      s.textContent = fmt(scale.vmin + (scale.vmax - scale.vmin) * i / 4);
      ticks.appendChild(s);
    }
    ramp.appendChild(bar); ramp.appendChild(ticks); box.appendChild(ramp);
  }
  function showInfo(id, sections) {
    var info = $("info"), table = $("info-table");
    $("info-title").textContent = "Building " + id;
    info.setAttribute("data-building-id", id);
    table.textContent = "";
    sections.forEach(function (sec) {
      if (!sec.values) return;
      var head = table.insertRow(), th = head.insertCell();
      th.colSpan = 2;
      th.innerHTML = "";
      var strong = document.createElement("strong");
      strong.textContent = sec.title;
      th.appendChild(strong);
      Object.keys(sec.values).forEach(function (k) {
        var row = table.insertRow();
        row.insertCell().textContent = k;
        row.insertCell().textContent = fmt(sec.values[k]);
      });
    });
    info.hidden = false;
  }

  function start() {
    var frag = fragment(), viewer;
    try {
      viewer = new Viewer($("view"));
    } catch (err) {
      status(String(err.message || err), true);
      return;
    }
    window.twinViewer = viewer;
    var headers = frag.key ? { Authorization: "Bearer " + frag.key } : {};
    function query() {
      var q = "model=" + encodeURIComponent(frag.model || "");
      if (frag.run) q += "&run=" + encodeURIComponent(frag.run);
      return q;
    }
    function sceneBytes() {
      if (cfg.mode === "standalone") {
        var el = $("twin-scene"), s = atob(el.textContent.trim()), a = new Uint8Array(s.length);
        for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
        return Promise.resolve(a.buffer);
      }
      if (!frag.model) return Promise.reject(new Error("no model: open this page as /viewer#key=API_KEY&model=MODEL_ID[&run=RUN_ID]"));
      var url = cfg.api + "/scene.glb?" + query() + (frag.color_by ? "&color_by=" + encodeURIComponent(frag.color_by) : "");
      return fetch(url, { headers: headers }).then(function (r) {
        if (!r.ok) return r.text().then(function (t) { throw new Error("scene: HTTP " + r.status + " " + t); });
        return r.arrayBuffer();
      });
    }
    function details(id) {
      var b = viewer.buildings[viewer.byId[id]];
      if (cfg.mode === "standalone") return Promise.resolve([{ title: "attributes and results", values: b.attributes }]);
      return fetch(cfg.api + "/buildings/" + encodeURIComponent(id) + "?" + query(), { headers: headers })
        .then(function (r) {
          if (!r.ok) throw new Error("building " + id + ": HTTP " + r.status);
          return r.json();
        })
        .then(function (d) { return [{ title: "attributes", values: d.attributes }, { title: "results", values: d.results }]; });
    }
    viewer.listeners.push(legend);
    sceneBytes().then(function (buffer) {
      viewer.load(buffer);
      var ex = viewer.extras, select = $("color-by"), cols = Object.keys(ex.columns || {}).sort();
      if (ex.title) { $("title").textContent = ex.title; document.title = ex.title + " (3D)"; }
      cols.forEach(function (c) {
        var o = document.createElement("option");
        o.value = c; o.textContent = c;
        select.appendChild(o);
      });
      var first = frag.color_by && ex.columns[frag.color_by] ? frag.color_by : ex.color_by || cols[0];
      if (first) { select.value = first; viewer.colorBy(first); }
      select.addEventListener("change", function () { viewer.colorBy(select.value); });
      viewer.controls(function (id) {
        if (id === null) { $("info").hidden = true; return; }
        details(id).then(function (s) { showInfo(id, s); }, function (err) { status(String(err.message || err), true); });
      });
      $("info-close").addEventListener("click", function () { $("info").hidden = true; });
      viewer.draw();
      viewer.loop();
      status(viewer.buildings.length + " buildings");
      document.body.setAttribute("data-ready", "1");
    }).catch(function (err) {
      status(String(err.message || err), true);
      document.body.setAttribute("data-ready", "error");
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
