// SPDX-License-Identifier: Apache-2.0
//
// Firmware per product (GET /api/v1/firmware[?product=P]) and its patches
// (GET /api/v1/patches[?product=P]) with the bytes a delta saves; an upload
// form (multipart POST /api/v1/firmware through XMLHttpRequest, so that
// upload.onprogress drives the <progress> bar) and a form that builds a
// patch ahead of time (POST /api/v1/patches).
import * as api from '../api.js';
import { h, replace, table, field, select, datalist } from '../dom.js';
import { bytes, when, percent, num } from '../format.js';

let chosenProduct = ''; // kept while the page is open: "" is every product

function firmwareRow(f) {
  return h('tr', { 'data-testid': 'firmware-row', 'data-product': f.product, 'data-version': f.version },
    h('td', null, f.product),
    h('td', null, f.version, f.app_version && f.app_version !== f.version ? h('span', { class: 'muted' }, ` (image: ${f.app_version})`) : null),
    h('td', null, f.chip || `chip ${f.chip_id}`),
    h('td', { class: 'num' }, bytes(f.size)),
    h('td', { class: 'num' }, num(f.security_counter)),
    h('td', null, when(f.created_at)),
    h('td', { class: 'mono', title: f.sha256 }, f.sha256.slice(0, 12) + '…'));
}

function patchRow(p) {
  const smaller = p.firmware_aware_size === null ? p.size : Math.min(p.size, p.firmware_aware_size);
  return h('tr', { 'data-testid': 'patch-row', 'data-product': p.product, 'data-old': p.old_version, 'data-new': p.new_version },
    h('td', null, p.product),
    h('td', null, `${p.old_version} → ${p.new_version}`),
    h('td', { class: 'num' }, bytes(p.full_size)),
    h('td', { class: 'num' }, bytes(p.size)),
    h('td', { class: 'num' }, p.firmware_aware_size === null ? '—' : bytes(p.firmware_aware_size)),
    h('td', { class: 'num', title: `the smaller delta is ${num(smaller)} bytes` }, `${bytes(p.saved_bytes)}, ${percent(p.saved_bytes, p.full_size)}`),
    h('td', null, when(p.created_at)));
}

export function render(ctx) {
  const root = ctx.mount('firmware');
  const sig = { signal: ctx.signal };
  const productSelect = select({ id: 'fw-product', 'data-testid': 'fw-product' }, [['', 'All products']], '');
  const products = datalist('fw-products', []);
  const versions = datalist('fw-versions', []);
  const fwBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const patchBox = h('div');

  // Upload form.
  const file = h('input', { id: 'upload-file', type: 'file', 'data-testid': 'upload-file', accept: '.bin,application/octet-stream', required: true });
  const upProduct = h('input', { id: 'upload-product', type: 'text', 'data-testid': 'upload-product', list: 'fw-products', placeholder: 'default', autocomplete: 'off', spellcheck: 'false' });
  const upVersion = h('input', { id: 'upload-version', type: 'text', 'data-testid': 'upload-version', placeholder: "the image's own", autocomplete: 'off', spellcheck: 'false' });
  const progress = h('progress', { id: 'upload-progress', 'data-testid': 'upload-progress', max: 100, value: 0, 'aria-label': 'Upload progress' });
  const upResult = h('p', { 'data-testid': 'upload-result', class: 'result', role: 'status' });
  const upSubmit = h('button', { type: 'submit', 'data-testid': 'upload-submit' }, 'Upload');
  const uploadForm = h('form', { 'data-testid': 'upload-form', class: 'card form-grid', novalidate: true },
    h('h2', null, 'Upload firmware'),
    field('Image file (.bin)', file),
    field('Product', upProduct, 'empty: the default product'),
    field('Version', upVersion, "empty: the image's own version"),
    h('div', { class: 'form-actions' }, upSubmit, field('Progress', progress)),
    upResult);

  // Patch form.
  const ptProduct = h('input', { id: 'patch-product', type: 'text', 'data-testid': 'patch-product', list: 'fw-products', placeholder: 'default', autocomplete: 'off', spellcheck: 'false' });
  const ptOld = h('input', { id: 'patch-old', type: 'text', 'data-testid': 'patch-old', list: 'fw-versions', required: true, autocomplete: 'off', spellcheck: 'false' });
  const ptNew = h('input', { id: 'patch-new', type: 'text', 'data-testid': 'patch-new', list: 'fw-versions', required: true, autocomplete: 'off', spellcheck: 'false' });
  const ptFa = h('input', { id: 'patch-firmware-aware', type: 'checkbox', 'data-testid': 'patch-firmware-aware' });
  const ptSubmit = h('button', { type: 'submit', 'data-testid': 'patch-submit' }, 'Build patch');
  const ptResult = h('p', { 'data-testid': 'patch-result', class: 'result', role: 'status' });
  const patchForm = h('form', { 'data-testid': 'patch-form', class: 'card form-grid', novalidate: true },
    h('h2', null, 'Build a patch ahead of time'),
    field('Product', ptProduct, 'empty: the default product'),
    field('Old version', ptOld),
    field('New version', ptNew),
    h('div', { class: 'field checkbox' }, ptFa, h('label', { for: 'patch-firmware-aware' }, 'Also the firmware-aware release (a few seconds of CPU)')),
    h('div', { class: 'form-actions' }, ptSubmit),
    ptResult);

  root.append(
    h('h1', null, 'Firmware'),
    h('div', { class: 'toolbar' }, field('Product', productSelect)),
    products, versions,
    h('section', null, h('h2', null, 'Images'), fwBox),
    h('section', null, h('h2', null, 'Patches'), patchBox),
    h('div', { class: 'forms' }, uploadForm, patchForm));

  async function loadProducts() {
    const { products: list } = await api.get('/api/v1/products', sig);
    const names = list.map((p) => p.name);
    if (chosenProduct && !names.includes(chosenProduct)) chosenProduct = '';
    productSelect.replaceChildren(...[['', 'All products'], ...names.map((n) => [n, n])]
      .map(([v, t]) => h('option', { value: v, selected: v === chosenProduct }, t)));
    replace(products, names.map((n) => h('option', { value: n })));
  }

  async function loadTables() {
    const query = { product: chosenProduct };
    const [fw, pt] = await Promise.all([
      api.get('/api/v1/firmware', { ...sig, query }),
      api.get('/api/v1/patches', { ...sig, query }),
    ]);
    replace(fwBox, table('firmware-table', ['Product', 'Version', 'Chip', 'Size', 'Security counter', 'Uploaded', 'SHA-256'],
      fw.firmware.map(firmwareRow), 'No firmware uploaded yet.'));
    replace(patchBox, table('patches-table', ['Product', 'Old → new', 'Full image', 'Plain delta', 'Firmware-aware delta', 'Saved', 'Built'],
      pt.patches.map(patchRow), 'No patch built yet: one is built at the first check-in that needs it, or with the form below.'));
    replace(versions, [...new Set(fw.firmware.map((f) => f.version))].map((v) => h('option', { value: v })));
  }

  async function reload() {
    root.removeAttribute('data-ready');
    await loadProducts();
    await loadTables();
    ctx.ready(root);
  }

  productSelect.addEventListener('change', () => {
    chosenProduct = productSelect.value;
    ptProduct.value = chosenProduct;
    root.removeAttribute('data-ready');
    loadTables().then(() => ctx.ready(root), (e) => ctx.error(e));
  });

  uploadForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(upResult);
    upResult.classList.remove('error');
    if (!file.files || file.files.length === 0) { upResult.classList.add('error'); replace(upResult, 'Choose an image file first.'); return; }
    const data = new FormData();
    if (upProduct.value.trim()) data.append('product', upProduct.value.trim());
    if (upVersion.value.trim()) data.append('version', upVersion.value.trim());
    data.append('file', file.files[0]);
    progress.value = 0;
    upSubmit.disabled = true;
    try {
      const f = await api.upload('/api/v1/firmware', data, { signal: ctx.signal, onProgress: (p) => { progress.value = p; } });
      replace(upResult, `Uploaded ${f.product} ${f.version} (${bytes(f.size)}, ${f.chip || 'unknown chip'}, security counter ${f.security_counter}).`);
      file.value = '';
      await reload();
    } catch (ex) {
      if (api.isAbort(ex)) return;
      upResult.classList.add('error');
      replace(upResult, ex.message);
    } finally {
      upSubmit.disabled = false;
    }
  });

  patchForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(ptResult);
    ptResult.classList.remove('error');
    if (!ptOld.value.trim() || !ptNew.value.trim()) { ptResult.classList.add('error'); replace(ptResult, 'Enter the old and the new version.'); return; }
    const body = { old_version: ptOld.value.trim(), new_version: ptNew.value.trim() };
    if (ptProduct.value.trim()) body.product = ptProduct.value.trim();
    if (ptFa.checked) body.firmware_aware = true;
    ptSubmit.disabled = true;
    replace(ptResult, 'Building…');
    try {
      const p = await api.post('/api/v1/patches', body, sig);
      replace(ptResult, `Built ${p.product} ${p.old_version} → ${p.new_version}: ${bytes(p.size)}` +
        (p.firmware_aware_size !== null && p.firmware_aware_size !== undefined ? `, firmware-aware ${bytes(p.firmware_aware_size)}` : '') +
        `, ${percent(p.saved_bytes, p.full_size)} smaller than the image.`);
      await loadTables();
    } catch (ex) {
      if (api.isAbort(ex)) return;
      ptResult.classList.add('error');
      replace(ptResult, ex.message);
    } finally {
      ptSubmit.disabled = false;
    }
  });

  ptProduct.value = chosenProduct;
  reload().catch((e) => ctx.error(e));
}
